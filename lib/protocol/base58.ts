// Base58 (the Bitcoin alphabet) and base58check's 4-byte double-SHA-256 checksum: Tezos keys and
// signatures are written this way, and `signerd log bundle` accepts a signature in either form.
import crypto from 'node:crypto';
import { BASE58_TEXT_CHARS_MAX } from '../limits.js';

const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
const INDEX = new Map([...ALPHABET].map((c, i) => [c, i]));

export function base58Encode(bytes: Uint8Array): string {
  let n = BigInt('0x' + (Buffer.from(bytes).toString('hex') || '0'));
  let out = '';
  while (n > 0n) {
    out = ALPHABET[Number(n % 58n)] + out;
    n /= 58n;
  }
  for (const b of bytes) {
    if (b !== 0) break;
    out = '1' + out;
  }
  return out;
}

/** Returns null for any character outside the alphabet. */
function base58Decode(text: string): Buffer | null {
  let n = 0n;
  for (const c of text) {
    const digit = INDEX.get(c);
    if (digit === undefined) return null;
    n = n * 58n + BigInt(digit);
  }
  let hex = n === 0n ? '' : n.toString(16);
  if (hex.length % 2) hex = '0' + hex;
  let zeros = 0;
  while (zeros < text.length && text[zeros] === '1') zeros++;
  return Buffer.concat([Buffer.alloc(zeros), Buffer.from(hex, 'hex')]);
}

export function base58Checksum(bytes: Uint8Array): Buffer {
  const once = crypto.createHash('sha256').update(bytes).digest();
  return crypto.createHash('sha256').update(once).digest().subarray(0, 4);
}

/** The prefixed payload of base58check text whose checksum holds, else null. */
export function base58CheckBody(text: string): Buffer | null {
  if (text.length === 0 || text.length > BASE58_TEXT_CHARS_MAX) return null;
  const raw = base58Decode(text);
  if (raw === null || raw.length < 5) return null;
  const body = raw.subarray(0, raw.length - 4);
  return base58Checksum(body).equals(raw.subarray(raw.length - 4)) ? Buffer.from(body) : null;
}
