// The elliptic curves signerd uses through PKCS#11: their CKA_EC_PARAMS encodings, sizes, and the
// SubjectPublicKeyInfo DER built from a CKA_EC_POINT (which tokens give raw or wrapped in an OCTET STRING).

export type CurveName = 'p256' | 'p384' | 'secp256k1' | 'ed25519';

export interface Curve {
  name: CurveName;
  /** DER of the named-curve OID (or, for EdDSA, the OID of RFC 8410). */
  params: Buffer;
  /** Bytes of one coordinate / scalar; signatures are 2 × this. */
  fieldBytes: number;
  edwards: boolean;
}

export const CURVES: Readonly<Record<CurveName, Curve>> = {
  p256: { name: 'p256', params: Buffer.from('06082a8648ce3d030107', 'hex'), fieldBytes: 32, edwards: false },
  p384: { name: 'p384', params: Buffer.from('06052b81040022', 'hex'), fieldBytes: 48, edwards: false },
  secp256k1: { name: 'secp256k1', params: Buffer.from('06052b8104000a', 'hex'), fieldBytes: 32, edwards: false },
  ed25519: { name: 'ed25519', params: Buffer.from('06032b6570', 'hex'), fieldBytes: 32, edwards: true },
};

/** SoftHSM and others also name Ed25519 by the printable string "edwards25519". */
const ED25519_PRINTABLE = Buffer.from('130c' + Buffer.from('edwards25519').toString('hex'), 'hex');

export function curveByParams(params: Buffer): Curve | null {
  if (params.equals(ED25519_PRINTABLE)) return CURVES.ed25519;
  return Object.values(CURVES).find((c) => c.params.equals(params)) ?? null;
}

/** The point bytes (uncompressed 04‖X‖Y, or the 32-byte Ed25519 key), unwrapping a DER OCTET STRING. */
function rawPoint(curve: Curve, ecPoint: Buffer): Buffer {
  const rawBytes = curve.edwards ? curve.fieldBytes : 1 + 2 * curve.fieldBytes;
  if (ecPoint.length === rawBytes) return ecPoint;
  const header = rawBytes < 128 ? 2 : 3;
  if (ecPoint.length === rawBytes + header && ecPoint[0] === 0x04) return ecPoint.subarray(header);
  throw new Error(`EC_POINT of ${ecPoint.length} bytes does not fit ${curve.name}`);
}

export function spkiOfCurvePoint(curve: Curve, ecPoint: Buffer): Buffer {
  const point = rawPoint(curve, ecPoint);
  const algorithm = curve.edwards ? der(0x30, curve.params) : der(0x30, Buffer.from('06072a8648ce3d0201', 'hex'), curve.params);
  return der(0x30, algorithm, der(0x03, Buffer.from([0]), point));
}

/** DER OCTET STRING around a point, as CKA_EC_POINT wants it on import. */
export function wrapPoint(point: Buffer): Buffer {
  return der(0x04, point);
}

function der(tag: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const length =
    body.length < 128
      ? Buffer.from([body.length])
      : body.length < 256
        ? Buffer.from([0x81, body.length])
        : Buffer.from([0x82, body.length >> 8, body.length & 0xff]);
  return Buffer.concat([Buffer.from([tag]), length, body]);
}
