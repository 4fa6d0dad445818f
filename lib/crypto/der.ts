// DER building blocks for PKCS#7 / CMS writers (firmware signatures), on node-forge's asn1
// (binary strings in, Buffers out), so those writers read like the ASN.1 they produce.
// Hash OIDs are in digests.ts, with the other facts of each digest.
import forge from 'node-forge';

type Node = forge.asn1.Asn1;
const { asn1 } = forge;
const U = asn1.Class.UNIVERSAL;
const T = asn1.Type;

export const OID = {
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  rsaEncryption: '1.2.840.113549.1.1.1',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingTime: '1.2.840.113549.1.9.5',
  smimeCapabilities: '1.2.840.113549.1.9.15',
} as const;

export const oid = (dotted: string): Node => asn1.create(U, T.OID, false, asn1.oidToDer(dotted).getBytes());
/** A non-negative INTEGER from big-endian magnitude bytes (ECDSA r and s), minimally encoded. */
export function uint(bytes: Buffer): Node {
  let at = 0;
  while (at < bytes.length - 1 && bytes[at] === 0) at++;
  const magnitude = bytes.subarray(at);
  const content = magnitude[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), magnitude]) : magnitude;
  return asn1.create(U, T.INTEGER, false, content.toString('binary'));
}
export const int = (n: number): Node => asn1.create(U, T.INTEGER, false, asn1.integerToDer(n).getBytes());
export const nul = (): Node => asn1.create(U, T.NULL, false, '');
export const seq = (...items: Node[]): Node => asn1.create(U, T.SEQUENCE, true, items);
export const set = (...items: Node[]): Node => asn1.create(U, T.SET, true, items);
export const octets = (data: Buffer): Node => asn1.create(U, T.OCTETSTRING, false, data.toString('binary'));
/** A BIT STRING of whole bytes (no unused bits). */
export const bitString = (data: Buffer): Node => asn1.create(U, T.BITSTRING, false, '\x00' + data.toString('binary'));
/** [n] IMPLICIT over a primitive value: the tag replaces the value's own (Authenticode's SpcString). */
export const contextPrimitive = (n: number, data: Buffer): Node => asn1.create(asn1.Class.CONTEXT_SPECIFIC, n, false, data.toString('binary'));
export const utcTime = (date: Date): Node => asn1.create(U, T.UTCTIME, false, asn1.dateToUtcTime(date));
/** [n] EXPLICIT or, for an IMPLICIT SET/SEQUENCE OF, [n] constructed holding the items directly. */
export const context = (n: number, ...items: Node[]): Node => asn1.create(asn1.Class.CONTEXT_SPECIFIC, n, true, items);

/** A DER value kept verbatim (certificate, issuer Name, serial INTEGER). */
export function raw(der: Buffer): Node {
  return asn1.fromDer(der.toString('binary'), true);
}

export function toDer(node: Node): Buffer {
  return Buffer.from(asn1.toDer(node).getBytes(), 'binary');
}

/** DER SET OF: elements sorted by their encodings (X.690 §11.6). */
export function setOfDer(items: Node[]): Buffer {
  const encoded = items.map(toDer).sort((a, b) => Buffer.compare(a, b));
  return toDer(set(...encoded.map(raw)));
}
