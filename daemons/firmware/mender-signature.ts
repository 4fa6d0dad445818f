// Mender's manifest.sig: the signature over the exact bytes of the artifact's `manifest`, base64
// (standard alphabet, padded, no newline). RSA is PKCS#1 v1.5/SHA-256; ECDSA is P-256 only, raw
// r‖s (64 bytes): node:crypto when the manifest is at hand, @noble/curves (RFC 6979) for a bare digest.
import crypto from 'node:crypto';
import { p256 } from '@noble/curves/nist.js';
import { DaemonError } from '../../lib/errors.js';
import type { FirmwareKey } from './key-root.js';
import { signPkcs1Digest, verifyPkcs1Digest } from './rsa-prehashed.js';

/** Each manifest line is `<sha256 hex>  <path>`; anything else is not a Mender manifest. */
const MANIFEST_LINE = /^[0-9a-f]{64} {2}[^\s]+$/;

export function checkMenderManifest(manifest: Buffer): number {
  const text = manifest.toString('latin1');
  if (!text.endsWith('\n')) throw new DaemonError('BAD_REQUEST', 'manifest must end with a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.some((line) => !MANIFEST_LINE.test(line))) throw new DaemonError('BAD_REQUEST', 'manifest lines must be "<sha256 hex>  <path>"');
  return lines.length;
}

export async function signMenderManifest(key: FirmwareKey, manifest: Buffer): Promise<string> {
  checkMenderManifest(manifest);
  if (key.type === 'rsa') return signMenderDigest(key, crypto.createHash('sha256').update(manifest).digest());
  // ECDSA on the thread pool; ieee-p1363 is the raw r‖s every mender-artifact version accepts (DER is refused by 3.x).
  const options = { dsaEncoding: 'ieee-p1363' } as const;
  const signature = await new Promise<Buffer>((resolve, reject) =>
    crypto.sign('sha256', manifest, { key: key.privateKey, ...options }, (err, sig) => (err ? reject(err) : resolve(sig))),
  );
  const ok = await new Promise<boolean>((resolve) =>
    crypto.verify('sha256', manifest, { key: key.publicKey, ...options }, signature, (err, v) => resolve(!err && v)),
  );
  if (!ok || signature.length !== 64) throw new DaemonError('SIGNATURE_CHECK_FAILED', 'manifest signature did not verify; withheld');
  return signature.toString('base64');
}

export function signMenderDigest(key: FirmwareKey, sha256: Buffer): string {
  if (sha256.length !== 32) throw new DaemonError('BAD_REQUEST', 'manifest digest must be 32 bytes (SHA-256)');
  let signature: Buffer;
  let ok: boolean;
  if (key.type === 'rsa') {
    signature = signPkcs1Digest(key.privateKey, 'sha256', sha256);
    ok = verifyPkcs1Digest(key.publicKey, 'sha256', sha256, signature);
  } else {
    const secret = Buffer.from(key.privateKey.export({ format: 'jwk' }).d ?? '', 'base64url');
    try {
      signature = Buffer.from(p256.sign(sha256, secret, { prehash: false, lowS: false }));
    } finally {
      secret.fill(0);
    }
    ok = verifyP256(key, sha256, signature);
  }
  if (!ok) throw new DaemonError('SIGNATURE_CHECK_FAILED', 'manifest signature did not verify; withheld');
  return signature.toString('base64');
}

function verifyP256(key: FirmwareKey, sha256: Buffer, signature: Buffer): boolean {
  const jwk = key.publicKey.export({ format: 'jwk' });
  const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x ?? '', 'base64url'), Buffer.from(jwk.y ?? '', 'base64url')]);
  try {
    return signature.length === 64 && p256.verify(signature, sha256, point, { prehash: false, lowS: false });
  } catch {
    return false;
  }
}
