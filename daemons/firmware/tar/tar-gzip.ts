// gzip around the tar reader and writer: inflate an uploaded .tar.gz to a file with a bound on
// the inflated size (gzip bombs), and open a gzip-compressing file sink for the signed tarball.
import fs from 'node:fs';
import { Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { DaemonError } from '../../../lib/errors.js';
import { FILE_STREAM_CHUNK_BYTES } from '../../../lib/limits.js';

/** Inflates `src` into `dest`; PAYLOAD_TOO_LARGE past `bytesMax`, BAD_REQUEST if it is not gzip. */
export async function gunzipToFile(src: string, dest: string, bytesMax: number): Promise<void> {
  let size = 0;
  const bound = new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length;
      if (size > bytesMax) done(new DaemonError('PAYLOAD_TOO_LARGE', `archive inflates to more than ${bytesMax} bytes`));
      else done(null, chunk);
    },
  });
  try {
    await pipeline(
      fs.createReadStream(src, { highWaterMark: FILE_STREAM_CHUNK_BYTES }),
      zlib.createGunzip({ chunkSize: FILE_STREAM_CHUNK_BYTES }),
      bound,
      fs.createWriteStream(dest, { flags: 'wx', mode: 0o600, highWaterMark: FILE_STREAM_CHUNK_BYTES }),
    );
  } catch (err) {
    if (err instanceof DaemonError) throw err;
    if ((err as NodeJS.ErrnoException).code?.startsWith('Z_')) throw new DaemonError('BAD_REQUEST', 'artifact is not a valid gzip-compressed tar archive');
    throw err;
  }
}

export interface GzipFileSink {
  stream: Writable;
  /** Ends the gzip stream and resolves once the file is fully written. */
  finish(): Promise<void>;
}

/** A gzip stream whose output goes to `dest`; errors surface from `finish()` or the next write. */
export function gzipFileSink(dest: string): GzipFileSink {
  const gzip = zlib.createGzip({ level: 6, chunkSize: FILE_STREAM_CHUNK_BYTES });
  const done = pipeline(gzip, fs.createWriteStream(dest, { flags: 'wx', mode: 0o600, highWaterMark: FILE_STREAM_CHUNK_BYTES }));
  // A failure before finish() is awaited must not become an unhandled rejection.
  done.catch(() => undefined);
  return {
    stream: gzip,
    finish: async () => {
      gzip.end();
      await done;
    },
  };
}
