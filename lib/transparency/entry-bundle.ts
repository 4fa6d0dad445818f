// Entry bundles (C2SP tlog-tiles "Log entries"): the entries of one level-0 tile, each prefixed
// with its length as a big-endian uint16, so an entry is at most 65,535 bytes.
import { DaemonError } from '../errors.js';
import { LOG_ENTRY_BYTES_MAX } from '../limits.js';

export function encodeEntryBundle(entries: readonly Uint8Array[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    if (entry.length > LOG_ENTRY_BYTES_MAX) throw new DaemonError('BAD_REQUEST', `log entry of ${entry.length} bytes is over ${LOG_ENTRY_BYTES_MAX}`);
    const length = Buffer.alloc(2);
    length.writeUInt16BE(entry.length);
    parts.push(length, Buffer.from(entry));
  }
  return Buffer.concat(parts);
}

/** The entries of a bundle; null when it is truncated, has trailing bytes, or not `count` entries. */
export function decodeEntryBundle(bundle: Buffer, count: number): Buffer[] | null {
  const entries: Buffer[] = [];
  let at = 0;
  while (at < bundle.length) {
    if (at + 2 > bundle.length) return null;
    const length = bundle.readUInt16BE(at);
    if (at + 2 + length > bundle.length) return null;
    entries.push(bundle.subarray(at + 2, at + 2 + length));
    at += 2 + length;
  }
  return entries.length === count ? entries : null;
}
