// Re-packs an uploaded .tar.gz the way digsigserver's `tar -c -z -f out .` does (a './' entry,
// then './'-prefixed names), entry by entry and without extracting anything: the caller decides,
// per entry, whether to copy it, replace its content, or drop it.
import type { FileHandle } from 'node:fs/promises';
import fs from 'node:fs/promises';
import path from 'node:path';
import { DaemonError } from '../../../lib/errors.js';
import { TAR_META_BYTES_MAX, type FirmwareHttpLimits } from '../firmware-limits.js';
import { readEntryContent, readTarEntries, type TarEntry, type TarReadLimits } from './tar-reader.js';
import { copyEntryContent, tarHeader, tarPadding, TAR_END, writeChunk } from './tar-writer.js';
import { gunzipToFile, gzipFileSink, type GzipFileSink } from './tar-gzip.js';

export interface RepackLimits extends TarReadLimits {
  /** Largest inflated archive. */
  inflatedBytesMax: number;
  /** Largest single file held in memory to be signed (a module, a TA image). */
  signedFileBytesMax: number;
}

/** The repacking bounds of the HTTP front end's limits. */
export function repackLimits(limits: FirmwareHttpLimits): RepackLimits {
  return {
    inflatedBytesMax: limits.inflatedBytesMax,
    signedFileBytesMax: limits.signedFileBytesMax,
    entriesMax: limits.tarEntriesMax,
    metaBytesMax: TAR_META_BYTES_MAX,
  };
}

/** What a re-packing pass can do with the input archive. */
export interface Repacker {
  entries(): AsyncGenerator<TarEntry>;
  /** Content of a file entry, refused past `signedFileBytesMax`. */
  content(entry: TarEntry): Promise<Buffer>;
  /** Copies an entry unchanged, bar its './' name. */
  copy(entry: TarEntry): Promise<void>;
  /** Writes a file entry with new content (metadata from `entry`). */
  replace(entry: TarEntry, content: Buffer): Promise<void>;
}

/** Inflates `upload` into `workDir`, runs `pass`, and leaves the gzip'd result at `outPath`. */
export async function repackTarball<T>(
  upload: string,
  workDir: string,
  outPath: string,
  limits: RepackLimits,
  pass: (repacker: Repacker) => Promise<T>,
): Promise<T> {
  const tarPath = path.join(workDir, 'input.tar');
  await gunzipToFile(upload, tarPath, limits.inflatedBytesMax);
  const fh = await fs.open(tarPath, 'r');
  const sink = gzipFileSink(outPath);
  try {
    await writeChunk(sink.stream, rootEntry());
    const result = await pass(repacker(fh, sink, limits));
    await writeChunk(sink.stream, TAR_END);
    await sink.finish();
    return result;
  } finally {
    sink.stream.destroy();
    await fh.close();
  }
}

function repacker(fh: FileHandle, sink: GzipFileSink, limits: RepackLimits): Repacker {
  return {
    entries: () => readTarEntries(fh, limits),
    async content(entry) {
      if (entry.size > limits.signedFileBytesMax) throw new DaemonError('PAYLOAD_TOO_LARGE', `${entry.name} larger than ${limits.signedFileBytesMax} bytes`);
      return readEntryContent(fh, entry);
    },
    async copy(entry) {
      await writeChunk(sink.stream, tarHeader(dotted(entry)));
      if (entry.type === 'file') await copyEntryContent(fh, entry, sink.stream);
    },
    async replace(entry, content) {
      await writeChunk(sink.stream, tarHeader({ ...dotted(entry), type: 'file', size: content.length }));
      await writeChunk(sink.stream, content);
      await writeChunk(sink.stream, tarPadding(content.length));
    },
  };
}

/** The './' directory entry GNU tar writes first when it packs '.'. */
function rootEntry(): Buffer {
  return tarHeader({
    name: '.',
    type: 'directory',
    mode: 0o755,
    uid: 0,
    gid: 0,
    uname: 'root',
    gname: 'root',
    mtime: Math.floor(Date.now() / 1000),
    linkname: '',
    size: 0,
  });
}

/** Entry names as `tar -c .` writes them: './' + the normalised name (hard-link targets too). */
function dotted(entry: TarEntry): TarEntry {
  const linkname = entry.type === 'hardlink' ? `./${entry.linkname}` : entry.linkname;
  return { ...entry, name: `./${entry.name}`, linkname };
}
