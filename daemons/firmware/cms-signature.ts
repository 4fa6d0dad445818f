// Detached CMS SignedData over a SHA-256 content digest, as `openssl cms -sign -binary -nosmimecap`
// makes it: signed attributes contentType, signingTime, messageDigest; the signer certificate
// included (swupdate requires it inside). Built by hand so a digest suffices; RSA or ECDSA signer.
import crypto from 'node:crypto';
import { DaemonError } from '../../lib/errors.js';
import { context, int, nul, oid, OID, octets, raw, seq, set, setOfDer, toDer, utcTime } from './der.js';
import type { CertifiedKey } from './key-root.js';

export async function signCmsDigest(keys: CertifiedKey, contentSha256: Buffer, signingTime: Date = new Date()): Promise<Buffer> {
  if (contentSha256.length !== 32) throw new DaemonError('BAD_REQUEST', 'content digest must be 32 bytes (SHA-256)');
  const attributes = [
    seq(oid(OID.contentType), set(oid(OID.data))),
    seq(oid(OID.signingTime), set(utcTime(signingTime))),
    seq(oid(OID.messageDigest), set(octets(contentSha256))),
  ];
  // The signature covers the attributes encoded as a DER SET OF; the SignerInfo carries the same
  // elements under [0] IMPLICIT.
  const signedSet = setOfDer(attributes);
  const options = signOptions(keys);
  const signature = await new Promise<Buffer>((resolve, reject) =>
    crypto.sign('sha256', signedSet, { key: keys.key.privateKey, ...options }, (err, sig) => (err ? reject(err) : resolve(sig))),
  );
  const ok = await new Promise<boolean>((resolve) =>
    crypto.verify('sha256', signedSet, { key: keys.key.publicKey, ...options }, signature, (err, v) => resolve(!err && v)),
  );
  if (!ok) throw new DaemonError('SIGNATURE_CHECK_FAILED', 'CMS signature did not verify; withheld');
  const setNode = raw(signedSet);
  const signerInfo = seq(
    int(1),
    seq(raw(keys.certificate.issuerDer), raw(keys.certificate.serialDer)),
    seq(oid(OID.sha256)),
    context(0, ...(setNode.value as ReturnType<typeof raw>[])),
    keys.key.type === 'rsa' ? seq(oid(OID.rsaEncryption), nul()) : seq(oid(OID.ecdsaWithSha256)),
    octets(signature),
  );
  const signedData = seq(int(1), set(seq(oid(OID.sha256))), seq(oid(OID.data)), context(0, raw(keys.certificate.der)), set(signerInfo));
  return toDer(seq(oid(OID.signedData), context(0, signedData)));
}

function signOptions(keys: CertifiedKey): { padding: number } | { dsaEncoding: 'der' } {
  // Explicit: PKCS#1 v1.5 for RSA, DER-encoded ECDSA as CMS requires.
  return keys.key.type === 'rsa' ? { padding: crypto.constants.RSA_PKCS1_PADDING } : { dsaEncoding: 'der' };
}
