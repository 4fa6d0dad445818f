// Signature schemes named by what they sign over (a digest the caller made, or a message it hashes
// with the scheme's digest), and signing and checking them with keys held in memory: node:crypto on
// libuv's thread pool for messages; raw RSA (rsa-prehashed.ts) or ECDSA (prehashed-ecdsa.ts) for bare digests.
import crypto, { type KeyObject } from 'node:crypto';
import { checkPrehashed } from './prehashed-check-threads.js';
import { prehashedSignerOf } from './prehashed-ecdsa.js';
import { DIGESTS, type DigestName } from './digests.js';
import { signPkcs1Digest, signPssDigest, verifyPkcs1Digest, verifyPssDigest } from './rsa-prehashed.js';

/**
 * rsa-pkcs1-*: RSASSA-PKCS1-v1_5. rsa-pss-sha256: RSASSA-PSS, MGF1-SHA-256, salt 32 (the hash
 * length); -max-salt: the largest salt the modulus allows (OpenSSL's rsa_pss_saltlen:max).
 * ecdsa-sha256: ECDSA on the key's curve over a SHA-256 digest, as r‖s. Names match the HSM
 * mechanisms of lib/keys/pkcs11-mechanisms.ts where both exist.
 */
export type DigestScheme = 'rsa-pkcs1-sha256' | 'rsa-pkcs1-sha384' | 'rsa-pkcs1-sha512' | 'rsa-pss-sha256' | 'rsa-pss-sha256-max-salt' | 'ecdsa-sha256';

interface SchemeFacts {
  readonly keyType: 'rsa' | 'ec';
  readonly digest: DigestName;
  /** RSA-PSS only: the salt length, 32 bytes or the maximum. */
  readonly pssSalt?: 32 | 'max';
}

export const DIGEST_SCHEMES: Readonly<Record<DigestScheme, SchemeFacts>> = {
  'rsa-pkcs1-sha256': { keyType: 'rsa', digest: 'sha256' },
  'rsa-pkcs1-sha384': { keyType: 'rsa', digest: 'sha384' },
  'rsa-pkcs1-sha512': { keyType: 'rsa', digest: 'sha512' },
  'rsa-pss-sha256': { keyType: 'rsa', digest: 'sha256', pssSalt: 32 },
  'rsa-pss-sha256-max-salt': { keyType: 'rsa', digest: 'sha256', pssSalt: 'max' },
  'ecdsa-sha256': { keyType: 'ec', digest: 'sha256' },
};

/** Signs a digest on this thread (node:crypto cannot sign a bare digest asynchronously). The caller checks the digest's length. */
export function signDigestWithKey(scheme: DigestScheme, privateKey: KeyObject, digest: Buffer): Buffer {
  const facts = DIGEST_SCHEMES[scheme];
  if (facts.keyType === 'rsa') {
    return facts.pssSalt === undefined ? signPkcs1Digest(privateKey, facts.digest, digest) : signPssDigest(privateKey, digest, facts.pssSalt);
  }
  // RFC 6979 deterministic nonces; S as it comes (every verifier here accepts either half).
  return prehashedSignerOf(privateKey).sign(digest, false);
}

/** Signs a whole message (hashed with the scheme's digest) on libuv's thread pool. */
export function signMessageWithKey(scheme: DigestScheme, privateKey: KeyObject, message: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    crypto.sign(DIGEST_SCHEMES[scheme].digest, message, nodeKeyOptions(scheme, privateKey, 'sign'), (err, signature) =>
      err ? reject(err) : resolve(signature),
    );
  });
}

/** A wrong or malformed signature is an answer (false); a check that could not run rejects (INTERNAL). ECDSA is checked on a worker thread. */
export async function verifyDigestSignature(scheme: DigestScheme, publicKey: KeyObject, digest: Buffer, signature: Buffer): Promise<boolean> {
  const facts = DIGEST_SCHEMES[scheme];
  if (facts.keyType === 'ec') return digest.length === DIGESTS[facts.digest].bytes && (await checkPrehashed(publicKey, digest, signature, false));
  try {
    return facts.pssSalt === undefined
      ? verifyPkcs1Digest(publicKey, facts.digest, digest, signature)
      : verifyPssDigest(publicKey, digest, signature, facts.pssSalt);
  } catch {
    return false;
  }
}

/** Checks a signature over a whole message on libuv's thread pool. */
export function verifyMessageSignature(scheme: DigestScheme, publicKey: KeyObject, message: Buffer, signature: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    try {
      crypto.verify(DIGEST_SCHEMES[scheme].digest, message, nodeKeyOptions(scheme, publicKey, 'verify'), signature, (err, ok) => resolve(!err && ok));
    } catch {
      resolve(false);
    }
  });
}

/** Every parameter spelled out: padding, salt, MGF1 hash, and r‖s for ECDSA. */
function nodeKeyOptions(scheme: DigestScheme, key: KeyObject, use: 'sign' | 'verify'): crypto.SignKeyObjectInput {
  const facts = DIGEST_SCHEMES[scheme];
  if (facts.keyType === 'ec') return { key, dsaEncoding: 'ieee-p1363' };
  if (facts.pssSalt === undefined) return { key, padding: crypto.constants.RSA_PKCS1_PADDING };
  // The maximum salt when signing; when checking, exactly the length it must have.
  const saltLength = facts.pssSalt === 32 ? 32 : use === 'sign' ? crypto.constants.RSA_PSS_SALTLEN_MAX_SIGN : Math.ceil((rsaModulusBits(key) - 1) / 8) - 32 - 2;
  return { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength, mgf1HashAlgorithm: 'sha256' } as crypto.SignKeyObjectInput;
}

function rsaModulusBits(key: KeyObject): number {
  return key.asymmetricKeyDetails?.modulusLength ?? 0;
}
