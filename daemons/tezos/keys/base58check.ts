// Tezos base58check: base58(prefix ‖ payload ‖ sha256d checksum[0..4]) with the octez prefix table
// (octez base58.ml). Decoding checks the checksum, the prefix and the payload length.
import { base58CheckBody, base58CheckEncode } from '../../../lib/protocol/base58.js';

const PREFIXES = {
  tz1: { bytes: [0x06, 0xa1, 0x9f], length: 20 },
  tz2: { bytes: [0x06, 0xa1, 0xa1], length: 20 },
  tz3: { bytes: [0x06, 0xa1, 0xa4], length: 20 },
  tz4: { bytes: [0x06, 0xa1, 0xa6], length: 20 },
  edpk: { bytes: [0x0d, 0x0f, 0x25, 0xd9], length: 32 },
  sppk: { bytes: [0x03, 0xfe, 0xe2, 0x56], length: 33 },
  p2pk: { bytes: [0x03, 0xb2, 0x8b, 0x7f], length: 33 },
  BLpk: { bytes: [0x06, 0x95, 0x87, 0xcc], length: 48 },
  edsk: { bytes: [0x0d, 0x0f, 0x3a, 0x07], length: 32 },
  edsk64: { bytes: [0x2b, 0xf6, 0x4e, 0x07], length: 64 },
  spsk: { bytes: [0x11, 0xa2, 0xe0, 0xc9], length: 32 },
  p2sk: { bytes: [0x10, 0x51, 0xee, 0xbd], length: 32 },
  BLsk: { bytes: [0x03, 0x96, 0xc0, 0x28], length: 32 },
  edesk: { bytes: [0x07, 0x5a, 0x3c, 0xb3, 0x29], length: 56 },
  spesk: { bytes: [0x09, 0xed, 0xf1, 0xae, 0x96], length: 56 },
  p2esk: { bytes: [0x09, 0x30, 0x39, 0x73, 0xab], length: 56 },
  BLesk: { bytes: [0x02, 0x05, 0x1e, 0x35, 0x19], length: 56 },
  edsig: { bytes: [0x09, 0xf5, 0xcd, 0x86, 0x12], length: 64 },
  spsig1: { bytes: [0x0d, 0x73, 0x65, 0x13, 0x3f], length: 64 },
  p2sig: { bytes: [0x36, 0xf0, 0x2c, 0x34], length: 64 },
  sig: { bytes: [0x04, 0x82, 0x2b], length: 64 },
  BLsig: { bytes: [0x28, 0xab, 0x40, 0xcf], length: 96 },
  Net: { bytes: [0x57, 0x52, 0x00], length: 4 },
  B: { bytes: [0x01, 0x34], length: 32 },
  P: { bytes: [0x02, 0xaa], length: 32 },
  KT1: { bytes: [0x02, 0x5a, 0x79], length: 20 },
} as const;

export type PrefixName = keyof typeof PREFIXES;

export function b58checkEncode(prefix: PrefixName, payload: Uint8Array): string {
  const p = PREFIXES[prefix];
  if (payload.length !== p.length) throw new Error(`${prefix} payload must be ${p.length} bytes, not ${payload.length}`);
  return base58CheckEncode(Buffer.concat([Buffer.from(p.bytes), payload]));
}

/** The payload if `text` is valid base58check with this prefix and length, else null. */
export function b58checkDecode(prefix: PrefixName, text: string): Buffer | null {
  const body = base58CheckBody(text);
  if (body === null) return null;
  const p = PREFIXES[prefix];
  if (body.length !== p.bytes.length + p.length) return null;
  if (!body.subarray(0, p.bytes.length).equals(Buffer.from(p.bytes))) return null;
  return Buffer.from(body.subarray(p.bytes.length));
}

/** Tries each prefix in order; the first that decodes wins. */
export function b58checkDecodeAny<P extends PrefixName>(prefixes: readonly P[], text: string): { prefix: P; payload: Buffer } | null {
  for (const prefix of prefixes) {
    const payload = b58checkDecode(prefix, text);
    if (payload !== null) return { prefix, payload };
  }
  return null;
}
