// Strict decoders for text fields on the wire. Lenient decoders (Buffer.from(x, 'hex') stops
// at the first bad character) would let junk through as a shorter value; these refuse it.
import { DaemonError } from '../errors.js';

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * The bytes of `text` if it is their one canonical padded base64 (RFC 4648 §3.5: unused bits zero),
 * else null. For signed and hashed text (checkpoints, proofs): two spellings of the same bytes
 * would let a byte of a verified file change with its verdict unchanged.
 */
export function canonicalBase64(text: string): Buffer | null {
  if (!BASE64.test(text)) return null;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : null;
}

export function decodeHex(text: string, field: string, bytesMax: number): Buffer {
  const bytes = Buffer.from(text, 'hex');
  // Node's decoder stops at the first pair that is not hex and reads only the low byte of wider
  // characters ('İ' passes for '0'); re-encoding and comparing rules out both. This is on every
  // verify request, and about six times faster than a regular expression over the text.
  const canonical = bytes.toString('hex');
  if (canonical !== text && canonical !== text.toLowerCase()) throw new DaemonError('BAD_REQUEST', `${field} is not hex`);
  if (bytes.length > bytesMax) throw new DaemonError('BAD_REQUEST', `${field} is longer than ${bytesMax} bytes`);
  return bytes;
}

export function decodeBase64(text: string, field: string, bytesMax: number): Buffer {
  if (!BASE64.test(text)) throw new DaemonError('BAD_REQUEST', `${field} is not base64`);
  const data = Buffer.from(text, 'base64');
  if (data.length > bytesMax) throw new DaemonError('BAD_REQUEST', `${field} is longer than ${bytesMax} bytes`);
  return data;
}

/** Client-supplied text for logs: bounded and printable, never the full payload. */
export function logSafe(text: string, charsMax = 80): string {
  const clipped = text.length > charsMax ? text.slice(0, charsMax) + '…' : text;
  return clipped.replace(/[^\x20-\x7e]/g, '?');
}
