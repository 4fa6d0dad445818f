// Fail closed: every signature an HSM returns is verified with the key's public half before it is
// released (a faulty token, a swapped object or a glitch yields SIGNATURE_CHECK_FAILED, never a bad signature).
import crypto, { type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';
import type Forge from 'node-forge';
import { checkPrehashed } from '../crypto/prehashed-check-threads.js';
import { HSM_SCHEMES, type HsmAlgorithm } from './pkcs11-mechanisms.js';

/** The hash node:crypto applies for a whole-message check, per scheme. */
const NODE_DIGEST: Record<HsmAlgorithm, string | null> = {
  'rsa-pss-sha256': 'sha256',
  'rsa-pss-sha256-max-salt': 'sha256',
  'rsa-pkcs1-sha256': 'sha256',
  'rsa-pkcs1-sha384': 'sha384',
  'rsa-pkcs1-sha512': 'sha512',
  'ecdsa-p256-sha256': 'sha256',
  'ecdsa-p384-sha384': 'sha384',
  'ecdsa-secp256k1-sha256': 'sha256',
  ed25519: null,
};

/**
 * With the whole message, node:crypto checks on the libuv thread pool (fast, off the event loop);
 * with only a digest (signDigest), ECDSA is checked on a worker thread (prehashed-check-threads.ts) and
 * RSA by node:crypto or forge on this thread.
 * `digest` is what was signed for prehashed schemes, or the whole message for EdDSA.
 */
export async function checkHsmSignature(
  algorithm: HsmAlgorithm,
  publicKey: KeyObject,
  input: { message?: Buffer; digest: Buffer },
  signature: Buffer,
): Promise<boolean> {
  if (input.message !== undefined) return checkMessage(algorithm, publicKey, input.message, signature);
  const scheme = HSM_SCHEMES[algorithm];
  if (scheme.key.type === 'ec' && algorithm !== 'ed25519') return checkPrehashed(publicKey, input.digest, signature, scheme.lowS);
  try {
    return check(algorithm, publicKey, input.digest, signature);
  } catch {
    return false;
  }
}

function checkMessage(algorithm: HsmAlgorithm, publicKey: KeyObject, message: Buffer, signature: Buffer): Promise<boolean> {
  const saltLength = HSM_SCHEMES[algorithm].pssSaltBytes?.(publicKey);
  const key =
    algorithm === 'ed25519'
      ? publicKey
      : saltLength !== undefined
        ? { key: publicKey, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength }
        : HSM_SCHEMES[algorithm].key.type === 'ec'
          ? { key: publicKey, dsaEncoding: 'ieee-p1363' as const }
          : { key: publicKey, padding: crypto.constants.RSA_PKCS1_PADDING };
  return new Promise((resolve) => {
    try {
      crypto.verify(NODE_DIGEST[algorithm], message, key, signature, (err, ok) => resolve(!err && ok));
    } catch {
      resolve(false);
    }
  });
}

function check(algorithm: HsmAlgorithm, publicKey: KeyObject, input: Buffer, signature: Buffer): boolean {
  const scheme = HSM_SCHEMES[algorithm];
  if (algorithm === 'ed25519') return crypto.verify(null, input, publicKey, signature);
  const saltLength = scheme.pssSaltBytes?.(publicKey);
  if (saltLength !== undefined) return checkPss(publicKey, input, signature, saltLength);
  // PKCS#1 v1.5: recover the encoded DigestInfo and compare it whole.
  const recovered = crypto.publicDecrypt({ key: publicKey, padding: crypto.constants.RSA_PKCS1_PADDING }, signature);
  return recovered.equals(scheme.tokenInput(input));
}

/**
 * node-forge (about 40 modules, 28 ms to load) on the first RSA-PSS check over a digest, not in every
 * daemon that can open an HSM key: tezos loads this file for any keys file.
 */
let forgeModule: typeof Forge | undefined;
const loadForge = (): typeof Forge => (forgeModule ??= createRequire(import.meta.url)('node-forge') as typeof Forge);

/** EMSA-PSS verify over a digest (node:crypto only verifies whole messages); forge does the encoding check. */
function checkPss(publicKey: KeyObject, digest: Buffer, signature: Buffer, saltLength: number): boolean {
  const forge = loadForge();
  const jwk = publicKey.export({ format: 'jwk' });
  const n: Forge.jsbn.BigInteger = new forge.jsbn.BigInteger(Buffer.from(jwk.n!, 'base64url').toString('hex'), 16);
  const e: Forge.jsbn.BigInteger = new forge.jsbn.BigInteger(Buffer.from(jwk.e!, 'base64url').toString('hex'), 16);
  const key = forge.pki.setRsaPublicKey(n, e);
  // node-forge's typings give mgf1.create() no type.
  // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment
  const pss = forge.pss.create({ md: forge.md.sha256.create(), mgf: forge.mgf.mgf1.create(forge.md.sha256.create()), saltLength });
  return key.verify(digest.toString('binary'), signature.toString('binary'), pss);
}
