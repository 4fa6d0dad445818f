// A strict, bounded reader of tar archives (ustar, GNU long names, pax) held in a file. It only
// lists entries and where their bytes are; nothing is ever extracted to disk, so links and odd
// names cannot escape anywhere. Anything unexpected is BAD_REQUEST.
import type { FileHandle } from 'node:fs/promises';
import { DaemonError } from '../../../lib/errors.js';

export type TarEntryType = 'file' | 'directory' | 'symlink' | 'hardlink';

export interface TarEntry {
  /** Normalised relative path: no leading './' or '/', no '.' or '..' parts, no trailing '/'; '' is the root. */
  name: string;
  type: TarEntryType;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  mtime: number;
  /** Link target, verbatim for symlinks, normalised for hard links. */
  linkname: string;
  size: number;
  /** Offset of the entry's content in the file. */
  dataOffset: number;
}

export interface TarReadLimits {
  entriesMax: number;
  /** Largest pax or GNU long-name record. */
  metaBytesMax: number;
  /**
   * Bytes of names and link targets of all entries together, for callers that hold every entry at
   * once: each may be a whole pax or long-name record, so entriesMax alone would let names fill memory.
   */
  namesBytesMax?: number;
}

const BLOCK = 512;
const TYPES: Record<string, TarEntryType> = { '0': 'file', '\0': 'file', '7': 'file', '5': 'directory', '2': 'symlink', '1': 'hardlink' };

function bad(message: string): DaemonError {
  return new DaemonError('BAD_REQUEST', `invalid tar archive: ${message}`);
}

/** Yields every entry in order; throws BAD_REQUEST on corruption, truncation or unsupported types. */
export async function* readTarEntries(fh: FileHandle, limits: TarReadLimits): AsyncGenerator<TarEntry> {
  const fileSize = (await fh.stat()).size;
  let offset = 0;
  let count = 0;
  let namesBytes = 0;
  let pending: { path?: string; linkpath?: string; size?: number } = {};
  for (;;) {
    const block = await readExact(fh, offset, BLOCK, fileSize);
    if (block === null) throw bad('truncated (no end-of-archive marker)');
    if (isZero(block)) return;
    checkChecksum(block);
    const typeflag = String.fromCharCode(block[156]!);
    const isMeta = typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K';
    const headerSize = parseNumber(block, 124, 12, 'size');
    const size = isMeta ? headerSize : (pending.size ?? headerSize);
    const dataOffset = offset + BLOCK;
    const next = dataOffset + Math.ceil(size / BLOCK) * BLOCK;
    if (dataOffset + size > fileSize) throw bad('truncated entry');
    offset = next;
    if (isMeta) {
      if (size > limits.metaBytesMax) throw bad('extended header too large');
      const meta = (await readExact(fh, dataOffset, size, fileSize))!;
      if (typeflag === 'x') pending = { ...pending, ...parsePax(meta) };
      else if (typeflag === 'L') pending.path = cString(meta);
      else if (typeflag === 'K') pending.linkpath = cString(meta);
      continue;
    }
    const type = TYPES[typeflag];
    if (!type) throw bad(`unsupported entry type '${printable(typeflag)}'`);
    if (++count > limits.entriesMax) throw bad(`more than ${limits.entriesMax} entries`);
    const entry = headerEntry(block, type, size, dataOffset, pending);
    namesBytes += Buffer.byteLength(entry.name) + Buffer.byteLength(entry.linkname);
    if (limits.namesBytesMax !== undefined && namesBytes > limits.namesBytesMax)
      throw new DaemonError('PAYLOAD_TOO_LARGE', `tar entry names and link targets longer than ${limits.namesBytesMax} bytes in all`);
    yield entry;
    pending = {};
  }
}

function headerEntry(block: Buffer, type: TarEntryType, size: number, dataOffset: number, pending: { path?: string; linkpath?: string }): TarEntry {
  const magic = block.toString('latin1', 257, 263);
  const ustarPrefix = magic === 'ustar\0' ? field(block, 345, 155) : '';
  const rawName = pending.path ?? (ustarPrefix ? `${ustarPrefix}/${field(block, 0, 100)}` : field(block, 0, 100));
  const rawLink = pending.linkpath ?? field(block, 157, 100);
  const name = normaliseName(rawName);
  if (name === '' && type !== 'directory') throw bad('entry without a name');
  return {
    name,
    type,
    mode: parseNumber(block, 100, 8, 'mode') & 0o7777,
    uid: parseNumber(block, 108, 8, 'uid'),
    gid: parseNumber(block, 116, 8, 'gid'),
    mtime: parseNumber(block, 136, 12, 'mtime'),
    uname: field(block, 265, 32),
    gname: field(block, 297, 32),
    linkname: type === 'hardlink' ? normaliseName(rawLink) : rawLink,
    size: type === 'file' ? size : 0,
    dataOffset,
  };
}

/** Relative, no '..': refuses names that could land outside the extraction directory. */
function normaliseName(raw: string): string {
  if (raw.includes('\0')) throw bad('NUL in a name');
  if (raw.startsWith('/')) throw bad('absolute name');
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw bad("'..' in a name");
  return parts.join('/');
}

async function readExact(fh: FileHandle, position: number, length: number, fileSize: number): Promise<Buffer | null> {
  if (position + length > fileSize) return null;
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) return null;
    done += bytesRead;
  }
  return buf;
}

function isZero(block: Buffer): boolean {
  for (const byte of block) if (byte !== 0) return false;
  return true;
}

function checkChecksum(block: Buffer): void {
  const stored = parseNumber(block, 148, 8, 'checksum');
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  if (stored !== unsigned && stored !== signed) throw bad('header checksum mismatch');
}

/** Octal (NUL/space padded) or GNU base-256 for large values; anything else is corruption. */
function parseNumber(block: Buffer, start: number, length: number, what: string): number {
  const raw = block.subarray(start, start + length);
  if (raw[0]! & 0x80) {
    if (raw[0] !== 0x80) throw bad(`${what}: negative or oversized base-256 number`);
    let value = 0;
    for (const byte of raw.subarray(1)) value = value * 256 + byte;
    if (!Number.isSafeInteger(value)) throw bad(`${what}: number too large`);
    return value;
  }
  const text = raw
    .toString('latin1')
    .replace(/[\0 ]+$/, '')
    .replace(/^ +/, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw bad(`${what}: not an octal number`);
  return parseInt(text, 8);
}

function field(block: Buffer, start: number, length: number): string {
  return cString(block.subarray(start, start + length));
}

/**
 * Names and owners are read as strict UTF-8: a lenient decode would turn other bytes into U+FFFD and the
 * tree would come back with renamed members (and owner fields that no longer fit their header slot).
 */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

function cString(buf: Buffer): string {
  const end = buf.indexOf(0);
  return utf8(buf.subarray(0, end === -1 ? buf.length : end));
}

function utf8(bytes: Uint8Array): string {
  try {
    return UTF8.decode(bytes);
  } catch {
    throw bad('a name or owner in a header is not UTF-8');
  }
}

/** pax records: "<len> <key>=<value>\n"; only path, linkpath and size matter here, and sparse files are refused. */
function parsePax(meta: Buffer): { path?: string; linkpath?: string; size?: number } {
  const out: { path?: string; linkpath?: string; size?: number } = {};
  let pos = 0;
  while (pos < meta.length) {
    const space = meta.indexOf(0x20, pos);
    if (space === -1) throw bad('malformed pax record');
    const len = Number(meta.toString('latin1', pos, space));
    if (!Number.isSafeInteger(len) || len <= space - pos + 1 || pos + len > meta.length || meta[pos + len - 1] !== 0x0a) throw bad('malformed pax record');
    const record = utf8(meta.subarray(space + 1, pos + len - 1));
    const eq = record.indexOf('=');
    if (eq === -1) throw bad('malformed pax record');
    const key = record.slice(0, eq);
    const value = record.slice(eq + 1);
    // A pax sparse member's data is a map and the pieces, not the file: taken as a file, the wrong bytes would be signed.
    if (key.startsWith('GNU.sparse.')) throw bad('sparse files are not supported (pax GNU.sparse)');
    if (key === 'path') out.path = value;
    else if (key === 'linkpath') out.linkpath = value;
    else if (key === 'size') {
      if (!/^[0-9]{1,15}$/.test(value)) throw bad('malformed pax size');
      out.size = Number(value);
    }
    pos += len;
  }
  return out;
}

function printable(ch: string): string {
  return /^[\x21-\x7e]$/.test(ch) ? ch : `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`;
}

/** Reads an entry's content into memory (callers bound `entry.size` first). */
export async function readEntryContent(fh: FileHandle, entry: TarEntry): Promise<Buffer> {
  const buf = Buffer.alloc(entry.size);
  let done = 0;
  while (done < entry.size) {
    const { bytesRead } = await fh.read(buf, done, entry.size - done, entry.dataOffset + done);
    if (bytesRead === 0) throw bad('truncated entry');
    done += bytesRead;
  }
  return buf;
}
