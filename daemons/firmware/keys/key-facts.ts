// What clients and formats may know of a key without its private half: type, size, signature
// length, key id. Read from the public key, so a key in a file and one in an HSM describe alike.
import type { KeyObject } from 'node:crypto';
import { keyIdOf } from '../../../lib/keys/key-file.js';

export interface KeyFacts {
  readonly publicKey: KeyObject;
  readonly type: 'rsa' | 'ec';
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

/** A key no firmware format signs with (ed25519, an unnamed curve, ...): described only to be refused by name. */
interface UnusableKey {
  readonly type: 'other';
  readonly description: string;
}

const CURVE_BITS: Record<string, number> = { prime256v1: 256, secp384r1: 384, secp521r1: 521 };

export function describePublicKey(publicKey: KeyObject): KeyFacts | UnusableKey {
  const details = publicKey.asymmetricKeyDetails ?? {};
  if (publicKey.asymmetricKeyType === 'rsa') {
    const bits = details.modulusLength ?? 0;
    return { publicKey, type: 'rsa', bits, curve: null, sigBytes: Math.ceil(bits / 8), keyId: keyIdOf(publicKey), description: `rsa-${bits}` };
  }
  const curve = details.namedCurve ?? 'unknown';
  if (publicKey.asymmetricKeyType === 'ec' && Object.hasOwn(CURVE_BITS, curve)) {
    const bits = CURVE_BITS[curve]!;
    return { publicKey, type: 'ec', bits, curve, sigBytes: 2 * Math.ceil(bits / 8), keyId: keyIdOf(publicKey), description: `ec-${curve}` };
  }
  return { type: 'other', description: publicKey.asymmetricKeyType === 'ec' ? `ec-${curve}` : String(publicKey.asymmetricKeyType) };
}
