// swupdate's sw-description.sig in its three forms: RSA PKCS#1 v1.5 (SHA-256), RSA-PSS (SHA-256,
// MGF1-SHA-256, maximum salt, as meta-swupdate's openssl call) and detached CMS. From the file or
// from its SHA-256; the file form only hashes and takes the digest path.
import crypto from 'node:crypto';
import { DaemonError } from '../../lib/errors.js';
import { signCmsDigest } from './cms-signature.js';
import type { SwupdateKeys } from './key-root.js';
import { signPkcs1Digest, signPssDigest, verifyPkcs1Digest, verifyPssDigest } from './rsa-prehashed.js';

const SWUPDATE_METHODS = ['RSA', 'RSA-PSS', 'CMS'] as const;
export type SwupdateMethod = (typeof SWUPDATE_METHODS)[number];

export function isSwupdateMethod(text: string): text is SwupdateMethod {
  return (SWUPDATE_METHODS as readonly string[]).includes(text);
}

/** SHA-256 of zero bytes. */
const EMPTY_SHA256 = crypto.createHash('sha256').digest();

/**
 * The one rule both front ends apply to what they are asked to sign: a SHA-256 digest (32 bytes) of a
 * sw-description that is not empty. swupdate verifies a signature over an empty sw-description and
 * then refuses the image ("no parser available to parse sw-description"), so such a signature could
 * only carry a broken build further; the digest of zero bytes is refused too, so that the digest
 * verb cannot sign what the whole-file verb refuses.
 */
export function checkSwDescriptionDigest(sha256: Buffer): Buffer {
  if (sha256.length !== 32) throw new DaemonError('BAD_REQUEST', 'sw-description digest must be 32 bytes (SHA-256)');
  if (sha256.equals(EMPTY_SHA256)) throw new DaemonError('BAD_REQUEST', 'sw-description is empty');
  return sha256;
}

export async function signSwupdateDigest(keys: SwupdateKeys, method: SwupdateMethod, sha256: Buffer): Promise<Buffer> {
  checkSwDescriptionDigest(sha256);
  if (method === 'CMS') {
    if (!keys.cms) throw new DaemonError('UNKNOWN_KEY', 'no CMS key (cms.cert + cms-private.key) for this distro');
    return signCmsDigest(keys.cms, sha256);
  }
  if (!keys.rsa) throw new DaemonError('UNKNOWN_KEY', 'no RSA key (rsa-private.key) for this distro');
  const { privateKey, publicKey } = keys.rsa;
  const signature = method === 'RSA' ? signPkcs1Digest(privateKey, 'sha256', sha256) : signPssDigest(privateKey, sha256, 'max');
  const ok = method === 'RSA' ? verifyPkcs1Digest(publicKey, 'sha256', sha256, signature) : verifyPssDigest(publicKey, sha256, signature, 'any');
  if (!ok) throw new DaemonError('SIGNATURE_CHECK_FAILED', 'sw-description signature did not verify; withheld');
  return signature;
}
