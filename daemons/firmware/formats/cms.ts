// Detached CMS SignedData over a SHA-256 content digest, as `openssl cms -sign -binary -nosmimecap`
// makes it: signed attributes contentType, signingTime, messageDigest; the signer certificate
// included (swupdate requires it inside). Built by hand so a digest suffices; RSA or ECDSA signer.
import { context, int, nul, oid, OID, octets, raw, seq, set, setOfDer, toDer, uint, utcTime } from '../../../lib/crypto/der.js';
import { DIGESTS } from '../../../lib/crypto/digests.js';
import { DaemonError } from '../../../lib/errors.js';
import { certificateOf, type DigestSigner } from './digest-signer.js';

export async function signCmsDigest(signer: DigestSigner, contentSha256: Buffer, signingTime: Date = new Date()): Promise<Buffer> {
  const certificate = certificateOf(signer, 'a CMS signature');
  const signedSet = cmsSignedAttributes(contentSha256, signingTime);
  const rsa = signer.type === 'rsa';
  // The signature covers SHA-256 of the DER attribute SET; CMS carries ECDSA as a DER Ecdsa-Sig-Value, not r‖s.
  const signature = await signer.signMessage(rsa ? 'rsa-pkcs1-sha256' : 'ecdsa-sha256', signedSet);
  const signerInfo = seq(
    int(1),
    seq(raw(certificate.issuerDer), raw(certificate.serialDer)),
    seq(oid(DIGESTS.sha256.oid)),
    context(0, ...(raw(signedSet).value as ReturnType<typeof raw>[])),
    rsa ? seq(oid(OID.rsaEncryption), nul()) : seq(oid(OID.ecdsaWithSha256)),
    octets(rsa ? signature : ecdsaSigValue(signature)),
  );
  const signedData = seq(int(1), set(seq(oid(DIGESTS.sha256.oid))), seq(oid(OID.data)), context(0, raw(certificate.der)), set(signerInfo));
  return toDer(seq(oid(OID.signedData), context(0, signedData)));
}

/** DER SET OF the signed attributes (contentType, signingTime, messageDigest): what the signer signs with SHA-256. */
function cmsSignedAttributes(contentSha256: Buffer, signingTime: Date): Buffer {
  if (contentSha256.length !== DIGESTS.sha256.bytes) throw new DaemonError('BAD_REQUEST', 'content digest must be 32 bytes (SHA-256)');
  const attributes = [
    seq(oid(OID.contentType), set(oid(OID.data))),
    seq(oid(OID.signingTime), set(utcTime(signingTime))),
    seq(oid(OID.messageDigest), set(octets(contentSha256))),
  ];
  // The signature covers the attributes encoded as a DER SET OF; the SignerInfo carries the same
  // elements under [0] IMPLICIT.
  return setOfDer(attributes);
}

/** Ecdsa-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } from r‖s. */
function ecdsaSigValue(rs: Buffer): Buffer {
  const half = rs.length / 2;
  return toDer(seq(uint(rs.subarray(0, half)), uint(rs.subarray(half))));
}
