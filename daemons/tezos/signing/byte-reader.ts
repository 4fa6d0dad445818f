// A bounded cursor over request bytes: every read checks the remaining length, and every failure is a
// BAD_REQUEST naming the field, so parsers never index past the end or accept a truncated payload.
import { DaemonError } from '../../../lib/errors.js';
import { ZARITH_BYTES_MAX } from '../tezos-limits.js';

export interface ByteReader {
  readonly offset: number;
  remaining(): number;
  u8(field: string): number;
  u16(field: string): number;
  i32(field: string): number;
  u32(field: string): number;
  bytes(length: number, field: string): Buffer;
  /** Skips a Zarith natural or integer (7 bits per byte, high bit = more bytes follow). */
  zarith(field: string): void;
  /** A uint32 length followed by that many bytes. */
  lengthPrefixed(field: string): Buffer;
  /** data-encoding option/bool byte: 0x00 false, 0xff true. */
  flag(field: string): boolean;
  /** Fails unless every byte has been read. */
  end(what: string): void;
}

export function byteReader(buf: Buffer, start = 0): ByteReader {
  let offset = start;
  function take(length: number, field: string): Buffer {
    if (length < 0 || offset + length > buf.length) throw new DaemonError('BAD_REQUEST', `payload truncated at ${field} (offset ${offset})`);
    const out = buf.subarray(offset, offset + length);
    offset += length;
    return out;
  }
  return {
    get offset() {
      return offset;
    },
    remaining: () => buf.length - offset,
    u8: (field) => take(1, field).readUInt8(0),
    u16: (field) => take(2, field).readUInt16BE(0),
    i32: (field) => take(4, field).readInt32BE(0),
    u32: (field) => take(4, field).readUInt32BE(0),
    bytes: (length, field) => take(length, field),
    zarith(field) {
      for (let i = 0; i < ZARITH_BYTES_MAX; i++) {
        if ((take(1, field).readUInt8(0) & 0x80) === 0) return;
      }
      throw new DaemonError('BAD_REQUEST', `${field} is not a valid number (over ${ZARITH_BYTES_MAX} bytes)`);
    },
    lengthPrefixed(field) {
      const length = take(4, field).readUInt32BE(0);
      return take(length, field);
    },
    flag(field) {
      const b = take(1, field).readUInt8(0);
      if (b === 0x00) return false;
      if (b === 0xff) return true;
      throw new DaemonError('BAD_REQUEST', `${field}: presence byte 0x${b.toString(16).padStart(2, '0')} is neither 0x00 nor 0xff`);
    },
    end(what) {
      if (offset !== buf.length) throw new DaemonError('BAD_REQUEST', `${buf.length - offset} unexpected trailing bytes after ${what}`);
    },
  };
}
