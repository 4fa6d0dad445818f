// The b58 and tagged binary forms of Tezos public keys, key hashes and signatures, per curve
// (octez base58.ml and signature encodings); pkh = blake2b-160 of the raw public key.
import { blake2b } from '@noble/hashes/blake2.js';
import { b58checkDecode, b58checkDecodeAny, b58checkEncode, type PrefixName } from './base58check.js';
import { TEZOS_CURVES, type TezosCurve } from './curve-signature.js';

interface CurveNames {
  pkh: PrefixName;
  pk: PrefixName;
  sk: PrefixName;
  esk: PrefixName;
  sig: PrefixName;
  /** Tag byte of the binary public key hash / public key. */
  tag: number;
}

export const CURVE_NAMES: Readonly<Record<TezosCurve, CurveNames>> = {
  ed25519: { pkh: 'tz1', pk: 'edpk', sk: 'edsk', esk: 'edesk', sig: 'edsig', tag: 0 },
  secp256k1: { pkh: 'tz2', pk: 'sppk', sk: 'spsk', esk: 'spesk', sig: 'spsig1', tag: 1 },
  p256: { pkh: 'tz3', pk: 'p2pk', sk: 'p2sk', esk: 'p2esk', sig: 'p2sig', tag: 2 },
  'bls12-381': { pkh: 'tz4', pk: 'BLpk', sk: 'BLsk', esk: 'BLesk', sig: 'BLsig', tag: 3 },
};

export interface DecodedPublicKey {
  curve: TezosCurve;
  bytes: Buffer;
}

export function decodePublicKey(text: string): DecodedPublicKey | null {
  for (const curve of TEZOS_CURVES) {
    const bytes = b58checkDecode(CURVE_NAMES[curve].pk, text);
    if (bytes !== null) return { curve, bytes };
  }
  return null;
}

export function encodePublicKey(curve: TezosCurve, bytes: Buffer): string {
  return b58checkEncode(CURVE_NAMES[curve].pk, bytes);
}

export function publicKeyHash(curve: TezosCurve, publicKey: Buffer): string {
  return b58checkEncode(CURVE_NAMES[curve].pkh, blake2b(publicKey, { dkLen: 20 }));
}

/** tz1…/tz2…/tz3…/tz4… of a b58 public key; null if it is not one. */
export function publicKeyHashOf(publicKeyText: string): string | null {
  const pk = decodePublicKey(publicKeyText);
  return pk === null ? null : publicKeyHash(pk.curve, pk.bytes);
}

/** The 21-byte binary key hash (tag byte ‖ 20-byte hash) used inside operations and auth requests. */
export function publicKeyHashBytes(pkh: string): Buffer | null {
  for (const curve of TEZOS_CURVES) {
    const hash = b58checkDecode(CURVE_NAMES[curve].pkh, pkh);
    if (hash !== null) return Buffer.concat([Buffer.from([CURVE_NAMES[curve].tag]), hash]);
  }
  return null;
}

export function curveOfPublicKeyHash(pkh: string): TezosCurve | null {
  return TEZOS_CURVES.find((c) => b58checkDecode(CURVE_NAMES[c].pkh, pkh) !== null) ?? null;
}

export function encodeSignature(curve: TezosCurve, bytes: Buffer): string {
  return b58checkEncode(CURVE_NAMES[curve].sig, bytes);
}

/** Raw signature bytes for this curve: its own prefix, or the generic `sig` for 64-byte curves. */
export function decodeSignature(curve: TezosCurve, text: string): Buffer | null {
  const prefixes: PrefixName[] = curve === 'bls12-381' ? ['BLsig'] : [CURVE_NAMES[curve].sig, 'sig'];
  return b58checkDecodeAny(prefixes, text)?.payload ?? null;
}
