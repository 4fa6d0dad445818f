// Strict decoders for text fields on the wire. Lenient decoders (Buffer.from(x, 'hex') stops
// at the first bad character) would let junk through as a shorter value; these refuse it.
import { DaemonError } from '../errors.js';

const HEX = /^[0-9a-fA-F]*$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function decodeHex(text: string, field: string, bytesMax: number): Buffer {
  if (text.length % 2 !== 0 || !HEX.test(text)) throw new DaemonError('BAD_REQUEST', `${field} is not hex`);
  if (text.length / 2 > bytesMax) throw new DaemonError('BAD_REQUEST', `${field} is longer than ${bytesMax} bytes`);
  return Buffer.from(text, 'hex');
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
