// The signature schemes signerd runs inside an HSM: which key each needs, what is hashed locally,
// which CKM_* mechanism signs, and how the token's output is shaped into the daemons' wire encodings.
import { createHash, type KeyObject } from 'node:crypto';
import type { Mechanism } from 'pkcs11js';
import { digestInfo, type DigestName } from '../crypto/digests.js';
import { pkcs11js } from './pkcs11-module.js';
import type { CurveName } from './pkcs11-curves.js';

export type HsmAlgorithm =
  | 'rsa-pss-sha256'
  | 'rsa-pss-sha256-max-salt'
  | 'rsa-pkcs1-sha256'
  | 'rsa-pkcs1-sha384'
  | 'rsa-pkcs1-sha512'
  | 'ecdsa-p256-sha256'
  | 'ecdsa-p384-sha384'
  | 'ecdsa-secp256k1-sha256'
  | 'ed25519';

/** CKM_EDDSA is PKCS#11 3.0; pkcs11js 2.1.7 does not export it. Without parameters it is pure Ed25519. */
const CKM_EDDSA = 0x1057;
export const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x1055;

export interface HsmScheme {
  key: { type: 'rsa' } | { type: 'ec'; curve: CurveName };
  /** Hash applied locally before the token signs; null: the token gets the whole message (EdDSA). */
  digest: DigestName | null;
  /** The key's public half sizes parameters that depend on it (the maximum PSS salt). */
  mechanism(publicKey: KeyObject): Mechanism;
  /** What the token signs, from the digest (DigestInfo for PKCS#1 v1.5, the digest itself otherwise). */
  tokenInput(digest: Buffer): Buffer;
  /** Low-S normalisation (BIP-62 / Tezos); r‖s layout is what CKM_ECDSA gives already. */
  lowS: boolean;
  /** RSA-PSS only: the salt length the token uses and the check demands. */
  pssSaltBytes?(publicKey: KeyObject): number;
}

const identity = (digest: Buffer): Buffer => digest;

function pkcs1(digest: DigestName): HsmScheme {
  return {
    key: { type: 'rsa' },
    digest,
    mechanism: () => ({ mechanism: pkcs11js().CKM_RSA_PKCS }),
    tokenInput: (hash) => digestInfo(digest, hash),
    lowS: false,
  };
}

/** RSASSA-PSS over a SHA-256 digest, MGF1-SHA-256, salt length from `saltBytes`. */
function pss(saltBytes: (publicKey: KeyObject) => number): HsmScheme {
  return {
    key: { type: 'rsa' },
    digest: 'sha256',
    mechanism: (publicKey) => {
      const P = pkcs11js();
      return {
        mechanism: P.CKM_RSA_PKCS_PSS,
        parameter: { type: P.CK_PARAMS_RSA_PSS, hashAlg: P.CKM_SHA256, mgf: P.CKG_MGF1_SHA256, saltLen: saltBytes(publicKey) } as never,
      };
    },
    tokenInput: identity,
    lowS: false,
    pssSaltBytes: saltBytes,
  };
}

function rsaModulusBits(publicKey: KeyObject): number {
  return publicKey.asymmetricKeyDetails?.modulusLength ?? 0;
}

function ecdsa(curve: CurveName, digest: DigestName, lowS: boolean): HsmScheme {
  return { key: { type: 'ec', curve }, digest, mechanism: () => ({ mechanism: pkcs11js().CKM_ECDSA }), tokenInput: identity, lowS };
}

export const HSM_SCHEMES: Readonly<Record<HsmAlgorithm, HsmScheme>> = {
  // RSASSA-PSS, SHA-256, MGF1-SHA-256, salt 32: the same as the file backend (crypto/signature-algorithms.ts).
  'rsa-pss-sha256': pss(() => 32),
  // The same with the largest salt the modulus allows (emLen - hLen - 2), as OpenSSL's
  // rsa_pss_saltlen:-2 / "max" signs: swupdate's RSA-PSS (meta-swupdate signs this way).
  'rsa-pss-sha256-max-salt': pss((publicKey) => Math.ceil((rsaModulusBits(publicKey) - 1) / 8) - 32 - 2),
  'rsa-pkcs1-sha256': pkcs1('sha256'),
  'rsa-pkcs1-sha384': pkcs1('sha384'),
  'rsa-pkcs1-sha512': pkcs1('sha512'),
  'ecdsa-p256-sha256': ecdsa('p256', 'sha256', true),
  // P-384 stays as the token made it, as the file backend's node:crypto signatures do.
  'ecdsa-p384-sha384': ecdsa('p384', 'sha384', false),
  'ecdsa-secp256k1-sha256': ecdsa('secp256k1', 'sha256', true),
  ed25519: { key: { type: 'ec', curve: 'ed25519' }, digest: null, mechanism: () => ({ mechanism: CKM_EDDSA }), tokenInput: identity, lowS: false },
};

export function digestOf(name: DigestName, data: Buffer): Buffer {
  return createHash(name).update(data).digest();
}

const ORDERS: Partial<Record<CurveName, bigint>> = {
  p256: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  secp256k1: 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n,
};

/** r‖s with s replaced by n − s when s > n/2: both verify, only the low one is accepted by Tezos. */
export function normaliseLowS(curve: CurveName, signature: Buffer): Buffer {
  const n = ORDERS[curve];
  if (n === undefined) throw new Error(`no low-S rule for ${curve}`);
  const half = signature.length / 2;
  const s = BigInt('0x' + signature.subarray(half).toString('hex'));
  if (s <= n >> 1n) return signature;
  const low = Buffer.from((n - s).toString(16).padStart(half * 2, '0'), 'hex');
  return Buffer.concat([signature.subarray(0, half), low]);
}
