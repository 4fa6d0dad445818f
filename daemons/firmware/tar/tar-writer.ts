// Writes tar archives the way GNU tar does by default (GNU format, 'L'/'K' records for names
// longer than 100 bytes), to any writable stream with back-pressure, or whole in memory for a few small files.
import { once } from 'node:events';
import zlib from 'node:zlib';
import type { FileHandle } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { DaemonError } from '../../../lib/errors.js';
import type { TarEntry, TarEntryType } from './tar-reader.js';

/** What a header records: an entry as the reader lists it, without where its bytes were. */
export type TarHeaderFields = Omit<TarEntry, 'dataOffset'>;

const BLOCK = 512;
const TYPEFLAG: Record<TarEntryType, string> = { file: '0', directory: '5', symlink: '2', hardlink: '1' };

/** The header block(s) for one entry, GNU long-name records first when a name does not fit. */
export function tarHeader(entry: TarHeaderFields): Buffer {
  const blocks: Buffer[] = [];
  const name = entry.type === 'directory' && !entry.name.endsWith('/') ? entry.name + '/' : entry.name;
  const nameBytes = Buffer.from(name, 'utf8');
  const linkBytes = Buffer.from(entry.linkname, 'utf8');
  if (nameBytes.length > 100) blocks.push(...longRecord('L', nameBytes));
  if (linkBytes.length > 100) blocks.push(...longRecord('K', linkBytes));
  blocks.push(headerBlock({ ...entry, name }, nameBytes.subarray(0, 100), linkBytes.subarray(0, 100), TYPEFLAG[entry.type]));
  return Buffer.concat(blocks);
}

function longRecord(flag: 'L' | 'K', bytes: Buffer): Buffer[] {
  const data = Buffer.concat([bytes, Buffer.alloc(1)]);
  const header = headerBlock(
    { name: '././@LongLink', type: 'file', mode: 0o644, uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: 0, linkname: '', size: data.length },
    Buffer.from('././@LongLink'),
    Buffer.alloc(0),
    flag,
  );
  return [header, data, tarPadding(data.length)];
}

function headerBlock(entry: TarHeaderFields, name: Buffer, link: Buffer, flag: string): Buffer {
  const block = Buffer.alloc(BLOCK);
  name.copy(block, 0);
  octal(block, 100, 8, entry.mode & 0o7777);
  octal(block, 108, 8, entry.uid);
  octal(block, 116, 8, entry.gid);
  octal(block, 124, 12, entry.type === 'file' ? entry.size : 0);
  octal(block, 136, 12, Math.max(0, Math.floor(entry.mtime)));
  block.write(flag, 156, 'latin1');
  link.copy(block, 157);
  block.write('ustar  \0', 257, 'latin1');
  // Bounded in bytes, not characters: 31 multi-byte characters would run over the fields after them.
  block.write(entry.uname, 265, 31, 'utf8');
  block.write(entry.gname, 297, 31, 'utf8');
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return block;
}

/** Octal with a trailing NUL, or GNU base-256 when the value does not fit (large uids). */
function octal(block: Buffer, start: number, length: number, value: number): void {
  const text = value.toString(8);
  if (text.length <= length - 1) {
    block.write(text.padStart(length - 1, '0') + '\0', start, 'latin1');
    return;
  }
  block[start] = 0x80;
  let rest = value;
  for (let i = start + length - 1; i > start; i--) {
    block[i] = rest % 256;
    rest = Math.floor(rest / 256);
  }
}

export function tarPadding(size: number): Buffer {
  const rest = size % BLOCK;
  return Buffer.alloc(rest === 0 ? 0 : BLOCK - rest);
}

/** Two zero blocks end an archive. */
export const TAR_END = Buffer.alloc(2 * BLOCK);

/** Writes with back-pressure: waits for 'drain' when the stream's buffer is full. */
export async function writeChunk(out: Writable, chunk: Buffer): Promise<void> {
  if (chunk.length === 0) return;
  if (!out.write(chunk)) await once(out, 'drain');
}

/** Streams a file entry's content (from the archive it was read from) plus its padding, in 64 KiB chunks. */
export async function copyEntryContent(fh: FileHandle, entry: TarEntry, out: Writable): Promise<void> {
  for (let done = 0; done < entry.size;) {
    const chunk = Buffer.alloc(Math.min(64 * 1024, entry.size - done));
    const { bytesRead } = await fh.read(chunk, 0, chunk.length, entry.dataOffset + done);
    if (bytesRead === 0) throw new DaemonError('BAD_REQUEST', 'invalid tar archive: truncated entry');
    await writeChunk(out, chunk.subarray(0, bytesRead));
    done += bytesRead;
  }
  await writeChunk(out, tarPadding(entry.size));
}

/** A gzipped archive of a few small files held in memory (mode 0644, root-owned, the current time). */
export function gzippedTar(files: Array<[name: string, content: Buffer]>): Buffer {
  const mtime = Math.floor(Date.now() / 1000);
  const parts = files.flatMap(([name, content]) => [
    tarHeader({ name, type: 'file', mode: 0o644, uid: 0, gid: 0, uname: 'root', gname: 'root', mtime, linkname: '', size: content.length }),
    content,
    tarPadding(content.length),
  ]);
  return zlib.gzipSync(Buffer.concat([...parts, TAR_END]));
}
