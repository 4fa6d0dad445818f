// swupdate's sw-description.sig in its three forms: RSA PKCS#1 v1.5 (SHA-256), RSA-PSS (SHA-256,
// MGF1-SHA-256, maximum salt, as meta-swupdate's openssl call) and detached CMS. From the file or
// from its SHA-256; the file form only hashes and takes the digest path.
import crypto from 'node:crypto';
import { DaemonError } from '../../../lib/errors.js';
import type { KeySlot } from '../keys/key-slots.js';
import { signCmsDigest } from './cms.js';
import type { DigestSigner } from './digest-signer.js';

const SWUPDATE_METHODS = ['RSA', 'RSA-PSS', 'CMS'] as const;
export type SwupdateMethod = (typeof SWUPDATE_METHODS)[number];

export function isSwupdateMethod(text: string): text is SwupdateMethod {
  return (SWUPDATE_METHODS as readonly string[]).includes(text);
}

/** The key a method signs with: rsa-private.key (RSA, RSA-PSS) or cms.cert + cms-private.key (CMS). */
export function swupdateSlot(method: SwupdateMethod): KeySlot {
  return method === 'CMS' ? 'swupdate-cms' : 'swupdate-rsa';
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
function checkSwDescriptionDigest(sha256: Buffer): Buffer {
  if (sha256.length !== 32) throw new DaemonError('BAD_REQUEST', 'sw-description digest must be 32 bytes (SHA-256)');
  if (sha256.equals(EMPTY_SHA256)) throw new DaemonError('BAD_REQUEST', 'sw-description is empty');
  return sha256;
}

/** sw-description.sig from SHA-256(sw-description); `signer` is the key of swupdateSlot(method). */
export async function signSwDescriptionDigest(signer: DigestSigner, method: SwupdateMethod, sha256: Buffer): Promise<Buffer> {
  checkSwDescriptionDigest(sha256);
  if (method === 'CMS') return signCmsDigest(signer, sha256);
  return signer.sign(method === 'RSA' ? 'rsa-pkcs1-sha256' : 'rsa-pss-sha256-max-salt', sha256);
}

/**
 * sw-description.sig from the sw-description bytes, which must be UTF-8 text (libconfig or JSON, as
 * swupdate parses it): both front ends sign through here, so both refuse the same files. The digest
 * form cannot tell.
 */
export async function signSwDescription(signer: DigestSigner, method: SwupdateMethod, swDescription: Buffer): Promise<Buffer> {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(swDescription);
  } catch {
    throw new DaemonError('BAD_REQUEST', 'sw-description is not UTF-8 text');
  }
  return signSwDescriptionDigest(signer, method, crypto.createHash('sha256').update(swDescription).digest());
}
