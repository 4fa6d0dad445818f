// Detached CMS SignedData over a SHA-256 content digest, as `openssl cms -sign -binary [-nosmimecap]`
// makes it: signed attributes contentType, signingTime, messageDigest (and OpenSSL's default
// SMIMECapabilities unless -nosmimecap); the signer certificate included (swupdate requires it
// inside). Built by hand so a digest suffices; RSA or ECDSA signer.
import { context, int, nul, oid, OID, octets, raw, seq, set, setOfDer, toDer, uint, utcTime } from '../../../lib/crypto/der.js';
import { DIGESTS } from '../../../lib/crypto/digests.js';
import { DaemonError } from '../../../lib/errors.js';
import { certificateOf, type DigestSigner } from './digest-signer.js';

export interface CmsOptions {
  signingTime?: Date;
  /** Add the SMIMECapabilities attribute `openssl cms -sign` writes without -nosmimecap (NVIDIA's UEFI signatures). */
  smimeCapabilities?: boolean;
  /** Leave the signer certificate out (`-nocerts`): NXP's HAB signatures carry none; the CSF holds it. Default true. */
  includeCertificate?: boolean;
}

export async function signCmsDigest(signer: DigestSigner, contentSha256: Buffer, options: CmsOptions = {}): Promise<Buffer> {
  const certificate = certificateOf(signer, 'a CMS signature');
  if (contentSha256.length !== DIGESTS.sha256.bytes) throw new DaemonError('BAD_REQUEST', 'content digest must be 32 bytes (SHA-256)');
  const attributes = [
    seq(oid(OID.contentType), set(oid(OID.data))),
    seq(oid(OID.signingTime), set(utcTime(options.signingTime ?? new Date()))),
    seq(oid(OID.messageDigest), set(octets(contentSha256))),
    ...(options.smimeCapabilities ? [smimeCapabilitiesAttribute()] : []),
  ];
  // The signature covers the attributes encoded as a DER SET OF; the SignerInfo carries the same
  // elements under [0] IMPLICIT.
  const signedSet = setOfDer(attributes);
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
  const certificates = options.includeCertificate === false ? [] : [context(0, raw(certificate.der))];
  const signedData = seq(int(1), set(seq(oid(DIGESTS.sha256.oid))), seq(oid(OID.data)), ...certificates, set(signerInfo));
  return toDer(seq(oid(OID.signedData), context(0, signedData)));
}

/**
 * SMIMECapabilities as OpenSSL 3 writes it by default (PKCS7/CMS sign without NOSMIMECAP): AES-256/192/128-CBC,
 * DES-EDE3-CBC, RC2-CBC 128, RC2-CBC 64, DES-CBC, RC2-CBC 40. sbsign writes the same list.
 */
export function smimeCapabilitiesAttribute(): ReturnType<typeof seq> {
  const rc2 = (bits: number) => seq(oid('1.2.840.113549.3.2'), int(bits));
  const capabilities = seq(
    seq(oid('2.16.840.1.101.3.4.1.42')),
    seq(oid('2.16.840.1.101.3.4.1.22')),
    seq(oid('2.16.840.1.101.3.4.1.2')),
    seq(oid('1.2.840.113549.3.7')),
    rc2(128),
    rc2(64),
    seq(oid('1.3.14.3.2.7')),
    rc2(40),
  );
  return seq(oid(OID.smimeCapabilities), set(capabilities));
}

/** Ecdsa-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } from r‖s. */
function ecdsaSigValue(rs: Buffer): Buffer {
  const half = rs.length / 2;
  return toDer(seq(uint(rs.subarray(0, half)), uint(rs.subarray(half))));
}
