// The seed's mode32: 65,536 table files of 2 MiB (128 GiB in all), too large to hold in memory.
// Every file is opened and checked (regular file, mode, size) at start-up and on SIGHUP; a
// request then reads its 32-byte key from the already-open descriptor at index × 32.
import fs from 'node:fs';
import path from 'node:path';
import { DaemonError } from '../../lib/errors.js';
import { hmacWithTransientKey, replacedError } from './memory-secrets.js';
import { KEY_BYTES, TABLE_BYTES, TABLE_KEYS, UNVERSIONED, tableFileName, type SecretSet } from './secret-set.js';

/** all: every one of the 65,536 files must exist (the operator's full set); present: serve the files that exist. */
export type Mode32Files = 'all' | 'present';

const PADDED = /^[0-9a-f]{4}$/;
const UNPADDED = /^(?:0|[1-9a-f][0-9a-f]{0,3})$/;

/** File number → file name, accepting the README's padded names and the seed's unpadded ones. */
export function scanTableNames(names: readonly string[]): Map<number, string> {
  const files = new Map<number, string>();
  for (const name of names) {
    if (!PADDED.test(name) && !UNPADDED.test(name)) continue;
    const file = parseInt(name, 16);
    const other = files.get(file);
    if (other !== undefined && other !== name) {
      throw new DaemonError('CONFIG_INVALID', `mode32: both "${other}" and "${name}" name secret file ${tableFileName(file)}; remove one`);
    }
    files.set(file, name);
  }
  return files;
}

export function openMode32Files(dir: string, require: Mode32Files, readMsMax: number): SecretSet {
  const files = scanTableNames(listDir(dir));
  if (files.size === 0) throw new DaemonError('KEY_LOAD_FAILED', `mode32: no secret files (0000 … ffff) in ${dir}`);
  if (require === 'all' && files.size < TABLE_KEYS) {
    const missing: string[] = [];
    for (let f = 0; f < TABLE_KEYS && missing.length < 5; f++) if (!files.has(f)) missing.push(tableFileName(f));
    throw new DaemonError('KEY_LOAD_FAILED', `mode32: ${TABLE_KEYS - files.size} of ${TABLE_KEYS} secret files are missing in ${dir} (first: ${missing.join(', ')}); create them or pass --mode32-files present`);
  }
  const fds = new Int32Array(TABLE_KEYS).fill(-1);
  try {
    for (const [file, name] of files) fds[file] = openTableFile(path.join(dir, name));
  } catch (err) {
    for (const fd of fds) if (fd >= 0) fs.closeSync(fd);
    throw err;
  }
  return tableFileSet(dir, fds, files.size, require, readMsMax);
}

function tableFileSet(dir: string, fds: Int32Array, count: number, require: Mode32Files, readMsMax: number): SecretSet {
  let pending = 0;
  let disposed = false;
  const closeAll = (): void => {
    for (let f = 0; f < fds.length; f++) {
      if (fds[f]! >= 0) fs.close(fds[f]!, () => {});
      fds[f] = -1;
    }
  };
  const readKey = (fd: number, offset: number): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      const key = Buffer.alloc(KEY_BYTES);
      // The read cannot be cancelled: on a deadline we answer BACKEND_TIMEOUT, and the descriptor
      // stays open until the read returns (closing it could let the number be reused meanwhile).
      let late = false;
      const timer = setTimeout(() => {
        late = true;
        reject(new DaemonError('BACKEND_TIMEOUT', `reading a secret file took over ${readMsMax} ms`));
      }, readMsMax);
      pending++;
      fs.read(fd, key, 0, KEY_BYTES, offset, (err, bytesRead) => {
        clearTimeout(timer);
        if (--pending === 0 && disposed) closeAll();
        if (late || err || bytesRead !== KEY_BYTES) {
          key.fill(0);
          reject(new DaemonError('BACKEND_UNAVAILABLE', `secret file read failed (${err?.code ?? `short read of ${bytesRead} bytes`})`));
        } else resolve(key);
      });
    });
  return {
    mode: 'mode32',
    versions: [UNVERSIONED],
    summary: { secretDir: dir, files: count, mode32Files: require },
    async mac(data, index) {
      if (disposed) throw replacedError();
      const file = index >>> 16;
      const fd = fds[file]!;
      if (fd < 0) throw new DaemonError('BACKEND_UNAVAILABLE', `secret file ${tableFileName(file)} is not installed`);
      return hmacWithTransientKey(await readKey(fd, (index & 0xffff) * KEY_BYTES), data);
    },
    dispose() {
      disposed = true;
      if (pending === 0) closeAll();
    },
  };
}

function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch (err) {
    throw new DaemonError('KEY_LOAD_FAILED', `mode32 secret directory ${dir}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`, { cause: err });
  }
}

/** Opens one table file and checks it as readSecretFile would: regular, private, exactly 2 MiB. */
function openTableFile(file: string): number {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    const hint = code === 'EMFILE' || code === 'ENFILE' ? ' (mode32 keeps one descriptor per file: raise LimitNOFILE / ulimit -n above 2 × 65,536)' : '';
    throw new DaemonError('KEY_LOAD_FAILED', `mode32 secret file ${file}: ${code}${hint}`, { cause: err });
  }
  const stat = fs.fstatSync(fd);
  let problem: DaemonError | null = null;
  if (!stat.isFile()) problem = new DaemonError('KEY_LOAD_FAILED', `mode32 secret file ${file}: not a regular file`);
  else if ((stat.mode & 0o077) !== 0) {
    const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
    problem = new DaemonError('KEY_FILE_INSECURE', `mode32 secret file ${file} has mode ${mode}; it must not be readable by group or others (chmod 600 ${file})`);
  } else if (stat.size !== TABLE_BYTES) problem = new DaemonError('KEY_LOAD_FAILED', `mode32 secret file ${file}: expected exactly ${TABLE_BYTES} bytes, found ${stat.size}`);
  if (problem) {
    fs.closeSync(fd);
    throw problem;
  }
  return fd;
}
