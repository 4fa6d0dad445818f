// Detached CMS SignedData over a SHA-256 content digest, as `openssl cms -sign -binary -nosmimecap`
// makes it: signed attributes contentType, signingTime, messageDigest; the signer certificate
// included (swupdate requires it inside). Built by hand so a digest suffices; RSA or ECDSA signer.
import crypto from 'node:crypto';
import { DaemonError } from '../../lib/errors.js';
import { context, int, nul, oid, OID, octets, raw, seq, set, setOfDer, toDer, utcTime } from './der.js';
import type { CertifiedKey, FirmwareCertificate } from './key-root.js';

export async function signCmsDigest(keys: CertifiedKey, contentSha256: Buffer, signingTime: Date = new Date()): Promise<Buffer> {
  const signedSet = cmsSignedAttributes(contentSha256, signingTime);
  const options = signOptions(keys);
  const signature = await new Promise<Buffer>((resolve, reject) =>
    crypto.sign('sha256', signedSet, { key: keys.key.privateKey, ...options }, (err, sig) => (err ? reject(err) : resolve(sig))),
  );
  const ok = await new Promise<boolean>((resolve) =>
    crypto.verify('sha256', signedSet, { key: keys.key.publicKey, ...options }, signature, (err, v) => resolve(!err && v)),
  );
  if (!ok) throw new DaemonError('SIGNATURE_CHECK_FAILED', 'CMS signature did not verify; withheld');
  return cmsSignedData(keys.certificate, keys.key.type === 'rsa' ? 'rsa' : 'ec', signedSet, signature);
}

/** DER SET OF the signed attributes (contentType, signingTime, messageDigest): what the signer signs with SHA-256. */
export function cmsSignedAttributes(contentSha256: Buffer, signingTime: Date): Buffer {
  if (contentSha256.length !== 32) throw new DaemonError('BAD_REQUEST', 'content digest must be 32 bytes (SHA-256)');
  const attributes = [
    seq(oid(OID.contentType), set(oid(OID.data))),
    seq(oid(OID.signingTime), set(utcTime(signingTime))),
    seq(oid(OID.messageDigest), set(octets(contentSha256))),
  ];
  // The signature covers the attributes encoded as a DER SET OF; the SignerInfo carries the same
  // elements under [0] IMPLICIT.
  return setOfDer(attributes);
}

/** The ContentInfo around a signature over `signedSet` (RSA PKCS#1 v1.5, or ECDSA as DER Ecdsa-Sig-Value). */
export function cmsSignedData(certificate: FirmwareCertificate, keyType: 'rsa' | 'ec', signedSet: Buffer, signature: Buffer): Buffer {
  const setNode = raw(signedSet);
  const signerInfo = seq(
    int(1),
    seq(raw(certificate.issuerDer), raw(certificate.serialDer)),
    seq(oid(OID.sha256)),
    context(0, ...(setNode.value as ReturnType<typeof raw>[])),
    keyType === 'rsa' ? seq(oid(OID.rsaEncryption), nul()) : seq(oid(OID.ecdsaWithSha256)),
    octets(signature),
  );
  const signedData = seq(int(1), set(seq(oid(OID.sha256))), seq(oid(OID.data)), context(0, raw(certificate.der)), set(signerInfo));
  return toDer(seq(oid(OID.signedData), context(0, signedData)));
}

function signOptions(keys: CertifiedKey): { padding: number } | { dsaEncoding: 'der' } {
  // Explicit: PKCS#1 v1.5 for RSA, DER-encoded ECDSA as CMS requires.
  return keys.key.type === 'rsa' ? { padding: crypto.constants.RSA_PKCS1_PADDING } : { dsaEncoding: 'der' };
}
