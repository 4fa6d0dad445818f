// Raw Tezos signing per curve, as octez does it: Ed25519 (node:crypto) and ECDSA secp256k1 / P-256
// (@noble/curves, RFC 6979, compact r‖s, low-S) over blake2b-256 of the bytes; BLS in bls-signature.ts.
import crypto, { type KeyObject } from 'node:crypto';
import { blake2b } from '@noble/hashes/blake2.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { p256 } from '@noble/curves/nist.js';
import { prehashedSigner, prehashedVerifier } from '../../../lib/crypto/prehashed-ecdsa.js';
import { blsPublicKey, blsRandomSecret, blsSign, blsVerify } from './bls-signature.js';

/** The four Tezos curves, in octez's tag order (tz1, tz2, tz3, tz4). */
export const TEZOS_CURVES = ['ed25519', 'secp256k1', 'p256', 'bls12-381'] as const;
export type TezosCurve = (typeof TEZOS_CURVES)[number];

/** A loaded secret: signs and checks without handing the secret out again. */
export interface RawSigner {
  readonly publicKey: Buffer;
  sign(payload: Buffer, version: number | undefined): Buffer;
  verify(payload: Buffer, signature: Buffer, version: number | undefined): boolean;
}

const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** blake2b with a 32-byte output: the digest Tezos signs for every curve except BLS. */
export function blake2b256(bytes: Uint8Array): Buffer {
  return Buffer.from(blake2b(bytes, { dkLen: 32 }));
}

export function rawSigner(curve: TezosCurve, secret: Buffer): RawSigner {
  switch (curve) {
    case 'ed25519':
      return ed25519Signer(secret);
    case 'secp256k1':
    case 'p256':
      return ecdsaSigner(curve, secret);
    case 'bls12-381':
      return blsSigner(secret);
  }
}

export function rawVerify(curve: TezosCurve, publicKey: Buffer, payload: Buffer, signature: Buffer, version: number | undefined): boolean {
  switch (curve) {
    case 'ed25519': {
      if (publicKey.length !== 32 || signature.length !== 64) return false;
      const key = ed25519PublicKey(publicKey);
      return key !== null && ed25519Verify(key, payload, signature);
    }
    case 'secp256k1':
    case 'p256':
      return ecdsaVerify(curve, publicKey, payload, signature);
    case 'bls12-381':
      return blsVerify(publicKey, payload, signature, version);
  }
}

/** A fresh random secret in the form the key encodings carry (BLS: little-endian scalar). */
export function randomSecret(curve: TezosCurve): Buffer {
  switch (curve) {
    case 'ed25519':
      return crypto.randomBytes(32);
    case 'secp256k1':
      return Buffer.from(secp256k1.utils.randomSecretKey());
    case 'p256':
      return Buffer.from(p256.utils.randomSecretKey());
    case 'bls12-381':
      return blsRandomSecret();
  }
}

function ed25519Signer(seed: Buffer): RawSigner {
  if (seed.length !== 32) throw new Error('an Ed25519 seed is 32 bytes');
  const der = Buffer.concat([ED25519_PKCS8_PREFIX, seed]);
  const privateKey = crypto.createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  der.fill(0);
  const publicObject = crypto.createPublicKey(privateKey);
  const spki = publicObject.export({ format: 'der', type: 'spki' });
  const publicKey = Buffer.from(spki.subarray(spki.length - 32));
  return {
    publicKey,
    sign: (payload) => crypto.sign(null, blake2b256(payload), privateKey),
    verify: (payload, signature) => signature.length === 64 && ed25519Verify(publicObject, payload, signature),
  };
}

function ed25519PublicKey(raw: Buffer): KeyObject | null {
  try {
    return crypto.createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
  } catch {
    return null;
  }
}

function ed25519Verify(publicKey: KeyObject, payload: Buffer, signature: Buffer): boolean {
  try {
    return crypto.verify(null, blake2b256(payload), publicKey, signature);
  } catch {
    return false;
  }
}

function ecdsaSigner(curve: 'secp256k1' | 'p256', secret: Buffer): RawSigner {
  if (secret.length !== 32) throw new Error(`not a valid ${curve} secret scalar`);
  // Refuses a scalar outside 1..n-1 before the public key is derived from it.
  const signer = prehashedSigner(curve, secret);
  const publicKey = Buffer.from((curve === 'secp256k1' ? secp256k1 : p256).getPublicKey(secret, true));
  // The daemon checks every signature it makes with this key: its tables are worth keeping.
  const verifier = prehashedVerifier(curve, publicKey);
  return {
    publicKey,
    // The digest is the message: no SHA-256 prehash; RFC 6979 nonces; low-S as libsecp256k1 and Taquito do.
    sign: (payload) => signer.sign(blake2b256(payload), true),
    // secp256k1 verifiers (libsecp256k1, Taquito 24) demand low-S; octez's P-256 (HACL) accepts either.
    verify: (payload, signature) => signature.length === 64 && verifier.verify(blake2b256(payload), signature, curve === 'secp256k1'),
  };
}

function ecdsaVerify(curve: 'secp256k1' | 'p256', publicKey: Buffer, payload: Buffer, signature: Buffer): boolean {
  if (publicKey.length !== 33 || signature.length !== 64) return false;
  const ecdsa = curve === 'secp256k1' ? secp256k1 : p256;
  try {
    // secp256k1 verifiers (libsecp256k1, Taquito 24) demand low-S; octez's P-256 (HACL) accepts either.
    return ecdsa.verify(signature, blake2b256(payload), publicKey, { prehash: false, lowS: curve === 'secp256k1', format: 'compact' });
  } catch {
    return false;
  }
}

function blsSigner(secret: Buffer): RawSigner {
  const sk = Buffer.from(secret);
  const publicKey = blsPublicKey(sk);
  return {
    publicKey,
    sign: (payload, version) => blsSign(sk, publicKey, payload, version),
    verify: (payload, signature, version) => blsVerify(publicKey, payload, signature, version),
  };
}
