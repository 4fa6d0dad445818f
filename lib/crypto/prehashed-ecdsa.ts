// ECDSA over a bare digest (what an HSM returns for signDigest, a Tezos tz2/tz3 key signs, a Mender
// digest request asks for): node:crypto only signs and checks whole messages, so the equations are
// written here over @noble/curves' arithmetic, and every multiple of the base point is OpenSSL's
// (ECDH's fixed-base path: about 20 µs against noble's 180). A key that checks signature after
// signature keeps precomputed tables for its point (about 4x faster than noble's one-off verify).
import crypto, { type KeyObject } from 'node:crypto';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { DIGESTS, type DigestName } from './digests.js';

const CURVES = { p256, p384, p521, secp256k1 } as const;
export type PrehashedCurve = keyof typeof CURVES;

/** OpenSSL's name of each curve (ECDH) and the hash of its RFC 6979 nonces (noble's choice, so signatures match noble's). */
const OPENSSL_CURVE: Record<PrehashedCurve, { name: string; nonceHash: DigestName }> = {
  p256: { name: 'prime256v1', nonceHash: 'sha256' },
  p384: { name: 'secp384r1', nonceHash: 'sha384' },
  p521: { name: 'secp521r1', nonceHash: 'sha512' },
  secp256k1: { name: 'secp256k1', nonceHash: 'sha256' },
};

/** The same table the other way: a KeyObject's asymmetricKeyDetails.namedCurve to the noble curve. */
const OPENSSL_NAMES: Record<string, PrehashedCurve> = Object.fromEntries(
  Object.entries(OPENSSL_CURVE).map(([curve, { name }]) => [name, curve as PrehashedCurve]),
);

/** wNAF window of the cached tables: 2^(8-1) points per window; about 60 ms once per key on P-256. */
const WINDOW_BITS = 8;
/** A key's tables are built after this many checks: a key seen once or twice (a client's) never pays for them. */
const TABLES_AFTER_CHECKS = 8;

export interface PrehashedVerifier {
  /** `signature` is compact r‖s; a malformed one is false, never an exception. `lowS` refuses the high-S twin. */
  verify(digest: Uint8Array, signature: Uint8Array, lowS: boolean): boolean;
}

export interface PrehashedSigner {
  /** Compact r‖s over `digest` with RFC 6979 nonces (the same bytes noble's sign gives); `lowS` folds S into the lower half. */
  sign(digest: Uint8Array, lowS: boolean): Buffer;
}

/**
 * A verifier for one public key (SEC 1 encoded, compressed or not): the point is decoded and
 * checked once, its tables built on the first check. The same equations as noble's verify
 * (SEC 1 §4.1.4): u1 = h/s, u2 = r/s, R = u1·G + u2·P, accept iff R ≠ O and R.x mod n = r.
 */
export function prehashedVerifier(curve: PrehashedCurve, publicKey: Uint8Array, tablesAfterChecks = TABLES_AFTER_CHECKS): PrehashedVerifier {
  const ecdsa = CURVES[curve];
  const { Point } = ecdsa;
  const Fn = Point.Fn;
  const point = Point.fromBytes(publicKey);
  point.assertValidity();
  if (point.is0()) throw new TypeError('the public key is the point at infinity');
  let checks = 0;
  return {
    verify(digest, signature, lowS) {
      // Built lazily by the next multiplication; until then noble's plain wNAF path.
      if (checks++ === tablesAfterChecks) point.precompute(WINDOW_BITS, true);
      try {
        const sig = ecdsa.Signature.fromBytes(signature, 'compact');
        if (lowS && sig.hasHighS()) return false;
        const h = Fn.create(bits2int(digest, Fn.BITS));
        const sInverse = Fn.inv(sig.s);
        const R = baseMultiple(curve, Fn.create(h * sInverse)).add(point.multiplyUnsafe(Fn.create(sig.r * sInverse)));
        if (R.is0()) return false;
        return Fn.create(R.toAffine().x) === sig.r;
      } catch {
        return false;
      }
    },
  };
}

/**
 * A signer for one secret scalar (big-endian bytes, 1 ≤ d < n). RFC 6979 §3.2 with node:crypto's
 * HMAC; k·G is OpenSSL's constant-time fixed-base multiplication. The inversion of k is blinded as
 * noble blinds it (s = (bk)⁻¹(bm + bdr) for a random b): a BigInt inversion's running time depends
 * on its input, and b·k is independent of the nonce.
 */
export function prehashedSigner(curve: PrehashedCurve, secret: Uint8Array): PrehashedSigner {
  const { Point } = CURVES[curve];
  const Fn = Point.Fn;
  const d = bytesToBigInt(secret);
  if (d <= 0n || d >= Fn.ORDER) throw new TypeError(`not a valid ${curve} secret scalar`);
  const { nonceHash } = OPENSSL_CURVE[curve];
  const secretOctets = int2octets(d, Fn.BYTES);
  return {
    sign(digest, lowS) {
      const m = Fn.create(bits2int(digest, Fn.BITS));
      const nonces = rfc6979Nonces(nonceHash, secretOctets, int2octets(m, Fn.BYTES), Fn.BYTES);
      for (;;) {
        const k = bits2int(nonces.next(), Fn.BITS);
        if (k <= 0n || k >= Fn.ORDER) continue;
        const r = Fn.create(baseMultiple(curve, k).toAffine().x);
        if (r === 0n) continue;
        const b = Fn.create(bytesToBigInt(crypto.randomBytes(Fn.BYTES + 16))) || 1n;
        let s = Fn.create(Fn.inv(Fn.mul(b, k)) * Fn.create(Fn.mul(b, m) + Fn.mul(Fn.mul(b, d), r)));
        if (s === 0n) continue;
        if (lowS && s > Fn.ORDER >> 1n) s = Fn.neg(s);
        return Buffer.concat([int2octets(r, Fn.BYTES), int2octets(s, Fn.BYTES)]);
      }
    },
  };
}

/** RFC 6979 §3.2 steps b–h: the candidate nonces' bytes T, in order (the caller rejects out-of-range ones). */
function rfc6979Nonces(hash: DigestName, x: Buffer, h1: Buffer, qBytes: number): { next(): Buffer } {
  const hmac = (key: Buffer, ...parts: Buffer[]): Buffer => {
    const mac = crypto.createHmac(hash, key);
    for (const part of parts) mac.update(part);
    return mac.digest();
  };
  let V: Buffer = Buffer.alloc(DIGESTS[hash].bytes, 1);
  let K: Buffer = Buffer.alloc(V.length, 0);
  K = hmac(K, V, ZERO_BYTE, x, h1);
  V = hmac(K, V);
  K = hmac(K, V, ONE_BYTE, x, h1);
  V = hmac(K, V);
  let first = true;
  return {
    next() {
      if (!first) {
        K = hmac(K, V, ZERO_BYTE);
        V = hmac(K, V);
      }
      first = false;
      const T: Buffer[] = [];
      for (let length = 0; length < qBytes; length += V.length) {
        V = hmac(K, V);
        T.push(V);
      }
      return Buffer.concat(T);
    },
  };
}

const ZERO_BYTE = Buffer.of(0);
const ONE_BYTE = Buffer.of(1);

const openssl = new Map<PrehashedCurve, crypto.ECDH>();

/**
 * scalar·G (1 ≤ scalar < n) by OpenSSL: an ECDH object's public key is its private scalar times
 * the base point. The object keeps the last scalar it was given, as the KeyObject keeps the key.
 */
function baseMultiple(curve: PrehashedCurve, scalar: bigint): (typeof CURVES)[PrehashedCurve]['Point']['BASE'] {
  const { Point } = CURVES[curve];
  if (scalar === 0n) return Point.ZERO;
  let ecdh = openssl.get(curve);
  if (!ecdh) {
    ecdh = crypto.createECDH(OPENSSL_CURVE[curve].name);
    openssl.set(curve, ecdh);
  }
  ecdh.setPrivateKey(int2octets(scalar, Point.Fn.BYTES));
  return Point.fromBytes(ecdh.getPublicKey());
}

const byKeyObject = new WeakMap<KeyObject, PrehashedVerifier>();
const signerByKeyObject = new WeakMap<KeyObject, PrehashedSigner>();

/** The signer of an EC private KeyObject, built once per key object (firmware's file keys). */
export function prehashedSignerOf(privateKey: KeyObject): PrehashedSigner {
  let signer = signerByKeyObject.get(privateKey);
  if (!signer) {
    const secret = Buffer.from(privateKey.export({ format: 'jwk' }).d ?? '', 'base64url');
    try {
      signer = prehashedSigner(curveOf(privateKey), secret);
    } finally {
      secret.fill(0);
    }
    signerByKeyObject.set(privateKey, signer);
  }
  return signer;
}

/** The verifier of an EC KeyObject, built once per key object (HSM keys, firmware keys). */
export function prehashedVerifierOf(publicKey: KeyObject): PrehashedVerifier {
  let verifier = byKeyObject.get(publicKey);
  if (!verifier) {
    verifier = prehashedVerifier(curveOf(publicKey), pointOf(publicKey));
    byKeyObject.set(publicKey, verifier);
  }
  return verifier;
}

const points = new WeakMap<KeyObject, Uint8Array>();

/** The SEC 1 uncompressed point of an EC KeyObject (what a worker thread is sent instead of the key object). */
export function pointOf(publicKey: KeyObject): Uint8Array {
  let point = points.get(publicKey);
  if (!point) {
    const jwk = publicKey.export({ format: 'jwk' });
    point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x ?? '', 'base64url'), Buffer.from(jwk.y ?? '', 'base64url')]);
    points.set(publicKey, point);
  }
  return point;
}

/** The noble curve of an EC KeyObject; a curve without digest ECDSA here is a TypeError. */
export function curveOf(key: KeyObject): PrehashedCurve {
  const name = key.asymmetricKeyDetails?.namedCurve ?? '';
  const curve = OPENSSL_NAMES[name];
  if (!curve) throw new TypeError(`no ECDSA over a digest for curve ${name || key.asymmetricKeyType}`);
  return curve;
}

function bytesToBigInt(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt('0x' + Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex'));
}

/** RFC 6979 int2octets: big-endian, exactly `length` bytes. */
function int2octets(value: bigint, length: number): Buffer {
  return Buffer.from(value.toString(16).padStart(length * 2, '0'), 'hex');
}

/** SEC 1 §4.1.3 step 5 / RFC 6979 bits2int: the digest's leftmost bits as an integer (not yet reduced mod n). */
function bits2int(bytes: Uint8Array, orderBits: number): bigint {
  const value = bytesToBigInt(bytes);
  const excess = bytes.length * 8 - orderBits;
  return excess > 0 ? value >> BigInt(excess) : value;
}
