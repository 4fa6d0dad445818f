// Mender's manifest.sig: the signature over the exact bytes of the artifact's `manifest`, base64
// (standard alphabet, padded, no newline). RSA is PKCS#1 v1.5/SHA-256; ECDSA is P-256 only, raw r‖s
// (64 bytes; DER is refused by mender-artifact 3.x).
import { DaemonError } from '../../../lib/errors.js';
import type { DigestSigner } from './digest-signer.js';

/** Each manifest line is `<sha256 hex>  <path>`; anything else is not a Mender manifest. */
const MANIFEST_LINE = /^[0-9a-f]{64} {2}[^\s]+$/;

/** Checks the manifest's shape; returns its number of lines. */
export function checkMenderManifest(manifest: Buffer): number {
  const text = manifest.toString('latin1');
  if (!text.endsWith('\n')) throw new DaemonError('BAD_REQUEST', 'manifest must end with a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.some((line) => !MANIFEST_LINE.test(line))) throw new DaemonError('BAD_REQUEST', 'manifest lines must be "<sha256 hex>  <path>"');
  return lines.length;
}

/** manifest.sig contents from the manifest (its shape checked first). */
export async function signMenderManifest(signer: DigestSigner, manifest: Buffer): Promise<string> {
  checkMenderManifest(manifest);
  return (await signer.signMessage(menderScheme(signer), manifest)).toString('base64');
}

/** manifest.sig contents from SHA-256(manifest); blind (the manifest is not seen). */
export async function signMenderDigest(signer: DigestSigner, sha256: Buffer): Promise<string> {
  if (sha256.length !== 32) throw new DaemonError('BAD_REQUEST', 'manifest digest must be 32 bytes (SHA-256)');
  return (await signer.sign(menderScheme(signer), sha256)).toString('base64');
}

function menderScheme(signer: DigestSigner): 'rsa-pkcs1-sha256' | 'ecdsa-sha256' {
  return signer.type === 'rsa' ? 'rsa-pkcs1-sha256' : 'ecdsa-sha256';
}
