// A loaded firmware signing key: the private KeyObject plus the facts clients need to prepare a
// request without it (type, size, signature length, key id). Never carries the key bytes anywhere.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { keyIdOf } from '../../lib/keys/key-file.js';

export interface FirmwareKey {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** 'other' keys are refused by the key root loader; signers only ever see rsa and ec. */
  readonly type: 'rsa' | 'ec' | 'other';
  /** Modulus bits (RSA) or field bits (EC). */
  readonly bits: number;
  /** OpenSSL curve name for EC keys (prime256v1, secp384r1), null for RSA. */
  readonly curve: string | null;
  /** Length of a raw signature: the modulus bytes (RSA) or r‖s (EC). */
  readonly sigBytes: number;
  readonly keyId: string;
  /** e.g. "rsa-2048", "ec-prime256v1"; safe to log and to reply. */
  readonly description: string;
}

const CURVE_BITS: Record<string, number> = { prime256v1: 256, secp384r1: 384, secp521r1: 521 };

export function describeKey(privateKey: KeyObject): FirmwareKey {
  return { privateKey, ...describePublicKey(createPublicKey(privateKey)) };
}

/** The same facts from the public half alone (a key whose private half is in an HSM). */
export function describePublicKey(publicKey: KeyObject): Omit<FirmwareKey, 'privateKey'> {
  const details = publicKey.asymmetricKeyDetails ?? {};
  const keyId = keyIdOf(publicKey);
  if (publicKey.asymmetricKeyType === 'rsa') {
    const bits = details.modulusLength ?? 0;
    return { publicKey, type: 'rsa', bits, curve: null, sigBytes: Math.ceil(bits / 8), keyId, description: `rsa-${bits}` };
  }
  if (publicKey.asymmetricKeyType === 'ec') {
    const curve = details.namedCurve ?? 'unknown';
    const bits = CURVE_BITS[curve] ?? 0;
    return { publicKey, type: 'ec', bits, curve, sigBytes: 2 * Math.ceil(bits / 8), keyId, description: `ec-${curve}` };
  }
  // ed25519, rsa-pss-restricted keys, ...: described so the loader can name them, then refused.
  return { publicKey, type: 'other', bits: 0, curve: null, sigBytes: 0, keyId, description: String(publicKey.asymmetricKeyType) };
}
