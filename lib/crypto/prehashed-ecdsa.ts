// ECDSA over a bare digest (what an HSM returns for signDigest, a Tezos tz2/tz3 key signs, a Mender
// digest request asks for): node:crypto only signs and checks whole messages, so @noble/curves does
// it. A key that checks signature after signature keeps precomputed tables for its point (about 4x
// faster than noble's one-off verify); the base point's tables are widened once per curve for signing.
import type { KeyObject } from 'node:crypto';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';

const CURVES = { p256, p384, p521, secp256k1 } as const;
export type PrehashedCurve = keyof typeof CURVES;

/** OpenSSL's curve names for the same curves (KeyObject.asymmetricKeyDetails.namedCurve). */
const OPENSSL_NAMES: Record<string, PrehashedCurve> = { prime256v1: 'p256', secp384r1: 'p384', secp521r1: 'p521', secp256k1: 'secp256k1' };

/** wNAF window of the cached tables: 2^(8-1) points per window; about 60 ms once per key on P-256. */
const WINDOW_BITS = 8;
/** A key's tables are built after this many checks: a key seen once or twice (a client's) never pays for them. */
const TABLES_AFTER_CHECKS = 8;

export interface PrehashedVerifier {
  /** `signature` is compact r‖s; a malformed one is false, never an exception. `lowS` refuses the high-S twin. */
  verify(digest: Uint8Array, signature: Uint8Array, lowS: boolean): boolean;
}

const widenedBase = new Set<PrehashedCurve>();

/** The curve, with its base point's tables widened on first use (signing multiplies the base point). */
export function prehashedCurve(curve: PrehashedCurve): (typeof CURVES)[PrehashedCurve] {
  const ecdsa = CURVES[curve];
  if (!widenedBase.has(curve)) {
    ecdsa.Point.BASE.precompute(WINDOW_BITS, true);
    widenedBase.add(curve);
  }
  return ecdsa;
}

/**
 * A verifier for one public key (SEC 1 encoded, compressed or not): the point is decoded and
 * checked once, its tables built on the first check. The same equations as noble's verify
 * (SEC 1 §4.1.4): u1 = h/s, u2 = r/s, R = u1·G + u2·P, accept iff R ≠ O and R.x mod n = r.
 */
export function prehashedVerifier(curve: PrehashedCurve, publicKey: Uint8Array, tablesAfterChecks = TABLES_AFTER_CHECKS): PrehashedVerifier {
  const ecdsa = prehashedCurve(curve);
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
        const R = Point.BASE.multiplyUnsafe(Fn.create(h * sInverse)).add(point.multiplyUnsafe(Fn.create(sig.r * sInverse)));
        if (R.is0()) return false;
        return Fn.create(R.toAffine().x) === sig.r;
      } catch {
        return false;
      }
    },
  };
}

const byKeyObject = new WeakMap<KeyObject, PrehashedVerifier>();

/** The verifier of an EC KeyObject, built once per key object (HSM keys, firmware keys). */
export function prehashedVerifierOf(publicKey: KeyObject): PrehashedVerifier {
  let verifier = byKeyObject.get(publicKey);
  if (!verifier) {
    const jwk = publicKey.export({ format: 'jwk' });
    const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x ?? '', 'base64url'), Buffer.from(jwk.y ?? '', 'base64url')]);
    verifier = prehashedVerifier(curveOf(publicKey), point);
    byKeyObject.set(publicKey, verifier);
  }
  return verifier;
}

/** The noble curve of an EC KeyObject; a curve without digest ECDSA here is a TypeError. */
export function curveOf(key: KeyObject): PrehashedCurve {
  const name = key.asymmetricKeyDetails?.namedCurve ?? '';
  const curve = OPENSSL_NAMES[name];
  if (!curve) throw new TypeError(`no ECDSA over a digest for curve ${name || key.asymmetricKeyType}`);
  return curve;
}

/** SEC 1 §4.1.3 step 5 / RFC 6979 bits2int: the digest's leftmost bits as an integer (not yet reduced mod n). */
function bits2int(bytes: Uint8Array, orderBits: number): bigint {
  const value = bytes.length === 0 ? 0n : BigInt('0x' + Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex'));
  const excess = bytes.length * 8 - orderBits;
  return excess > 0 ? value >> BigInt(excess) : value;
}
