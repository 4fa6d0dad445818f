// The seed's mode32: 65,536 table files of 2 MiB (128 GiB in all), too large to hold in memory and
// too many to keep open under an ordinary descriptor limit. Every file is checked (regular file,
// mode, size) at start-up and on SIGHUP; a request then opens its file, checks that it is still
// the file that was checked, reads its 32-byte key at index × 32, and closes it.
import fs from 'node:fs';
import path from 'node:path';
import { DaemonError } from '../../lib/errors.js';
import { checkSecretDirectory, ownedByUs, ownerError } from '../../lib/keys/key-file.js';
import { hmacWithTransientKey, isZeroKey, replacedError } from './memory-secrets.js';
import { KEY_BYTES, TABLE_BYTES, TABLE_KEYS, UNVERSIONED, tableFileName, type Mode32Files, type SecretSet } from './secret-set.js';

/**
 * Secret files open at once for key reads (each from its open to its close); more reads wait their
 * turn within their deadline. libuv runs 4 file operations at a time, so 64 keeps its queue full;
 * with the template's LimitNOFILE=4096 the rest is left for 3 listeners × 1024 connections.
 */
export const MODE32_FILES_OPEN_MAX = 64;

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

/** What start-up checked of one file; a request's open must find the same file (rename or replace: SIGHUP). */
interface CheckedFile {
  path: string;
  dev: number;
  ino: number;
}

export function openMode32Files(dir: string, require: Mode32Files, readMsMax: number): SecretSet {
  // Requests open files under the directory as resolved now: pointing a symlinked --secret-dir at
  // a new set changes nothing until SIGHUP checks and loads that set.
  const { resolved, names } = readSecretDir(dir);
  // As single and derived secrets: whoever may rename in the directory, or above it, could swap the tables.
  checkSecretDirectory(dir, resolved, 'mode32 secret directory');
  const files = scanTableNames(names);
  if (files.size === 0) throw new DaemonError('KEY_LOAD_FAILED', `mode32: no secret files (0000 … ffff) in ${dir}`);
  if (require === 'all' && files.size < TABLE_KEYS) {
    const missing: string[] = [];
    for (let f = 0; f < TABLE_KEYS && missing.length < 5; f++) if (!files.has(f)) missing.push(tableFileName(f));
    throw new DaemonError(
      'KEY_LOAD_FAILED',
      `mode32: ${TABLE_KEYS - files.size} of ${TABLE_KEYS} secret files are missing in ${dir} (first: ${missing.join(', ')}); create them or pass --mode32-files present`,
    );
  }
  return tableFileSet(dir, checkTableFiles(resolved, files), files.size, require, readMsMax);
}

/**
 * Checks every file, MODE32_FILES_OPEN_MAX of them open at a time: as many as requests may hold,
 * so a descriptor limit too low for the key reads fails here, at start-up, not on requests.
 */
function checkTableFiles(dir: string, files: Map<number, string>): Array<CheckedFile | null> {
  const checked: Array<CheckedFile | null> = new Array<CheckedFile | null>(TABLE_KEYS).fill(null);
  const batch: Array<[number, string, number]> = [];
  const closeBatch = (): void => {
    for (const [, , fd] of batch) fs.closeSync(fd);
    batch.length = 0;
  };
  try {
    for (const [file, name] of files) {
      const filePath = path.join(dir, name);
      batch.push([file, filePath, openForCheck(filePath)]);
      if (batch.length < MODE32_FILES_OPEN_MAX) continue;
      for (const [f, p, fd] of batch) checked[f] = checkTableFile(p, fd);
      closeBatch();
    }
    for (const [f, p, fd] of batch) checked[f] = checkTableFile(p, fd);
  } finally {
    closeBatch();
  }
  return checked;
}

/** Non-blocking, like every secret file: a FIFO in the directory is refused, never waited on (a reload would freeze every listener). */
const OPEN_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK;

function openForCheck(file: string): number {
  try {
    return fs.openSync(file, OPEN_FLAGS);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    const hint =
      code === 'EMFILE' || code === 'ENFILE'
        ? ` (mode32 opens up to ${MODE32_FILES_OPEN_MAX} secret files at once, beside one descriptor per connection: raise LimitNOFILE / ulimit -n; 4096 is enough for the defaults)`
        : '';
    throw new DaemonError('KEY_LOAD_FAILED', `mode32 secret file ${file}: ${code}${hint}`, { cause: err });
  }
}

/** Checks one open table file as readSecretFile would: regular, ours or root's, private, exactly 2 MiB. */
function checkTableFile(file: string, fd: number): CheckedFile {
  const stat = fs.fstatSync(fd);
  const problem = tableFileProblem(stat);
  if (problem === 'mode') {
    const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
    throw new DaemonError(
      'KEY_FILE_INSECURE',
      `mode32 secret file ${file} has mode ${mode}; it must not be readable or writable by group or others (chmod 600 ${file})`,
    );
  }
  if (problem === 'type') throw new DaemonError('KEY_LOAD_FAILED', `mode32 secret file ${file}: not a regular file`);
  if (problem === 'owner') throw ownerError(file, 'mode32 secret file', stat.uid);
  if (problem === 'size') throw new DaemonError('KEY_LOAD_FAILED', `mode32 secret file ${file}: expected exactly ${TABLE_BYTES} bytes, found ${stat.size}`);
  return { path: file, dev: stat.dev, ino: stat.ino };
}

function tableFileProblem(stat: fs.Stats): 'type' | 'owner' | 'mode' | 'size' | null {
  if (!stat.isFile()) return 'type';
  if (!ownedByUs(stat)) return 'owner';
  if ((stat.mode & 0o077) !== 0) return 'mode';
  if (stat.size !== TABLE_BYTES) return 'size';
  return null;
}

function tableFileSet(dir: string, files: Array<CheckedFile | null>, count: number, require: Mode32Files, readMsMax: number): SecretSet {
  const readKey = keyReader(readMsMax);
  let disposed = false;
  return {
    mode: 'mode32',
    versions: [UNVERSIONED],
    summary: { secretDir: dir, files: count, mode32Files: require },
    // With --mode32-files present, file 0000 may be the one not installed.
    probeIndex:
      Math.max(
        0,
        files.findIndex((f) => f !== null),
      ) << 16,
    async mac(data, index) {
      if (disposed) throw replacedError();
      const file = index >>> 16;
      const checked = files[file];
      if (!checked) throw new DaemonError('BACKEND_UNAVAILABLE', `secret file ${tableFileName(file)} is not installed`);
      return hmacWithTransientKey(await readKey(file, checked, (index & 0xffff) * KEY_BYTES), data);
    },
    dispose() {
      // Nothing stays open between requests: reads in flight close their own files.
      disposed = true;
    },
  };
}

type KeyRead = (file: number, checked: CheckedFile, offset: number) => Promise<Buffer>;

interface WaitingRead {
  start(): void;
  /** Its deadline passed while it waited: skipped when its turn comes. */
  gone: boolean;
}

/**
 * Reads keys with at most MODE32_FILES_OPEN_MAX files open; later reads queue in order. The
 * deadline covers the wait and the read. A read cannot be cancelled: past its deadline the request
 * gets BACKEND_TIMEOUT, and the file stays open (and counted) until the read returns.
 */
function keyReader(readMsMax: number): KeyRead {
  let open = 0;
  let waiting: WaitingRead[] = [];
  let head = 0;
  const release = (): void => {
    open--;
    while (head < waiting.length) {
      const next = waiting[head++]!;
      if (next.gone) continue;
      open++;
      next.start();
      break;
    }
    // Drop the entries already taken, so a queue that never empties does not grow without end.
    if (head === waiting.length || (head >= 1024 && head * 2 >= waiting.length)) {
      waiting = waiting.slice(head);
      head = 0;
    }
  };
  return (file, checked, offset) =>
    new Promise((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        entry.gone = true;
        reject(new DaemonError('BACKEND_TIMEOUT', `reading a secret file took over ${readMsMax} ms`));
      }, readMsMax);
      const entry: WaitingRead = {
        gone: false,
        start: () =>
          readOneKey(file, checked, offset, release, (err, key) => {
            if (settled) return key?.fill(0);
            settled = true;
            clearTimeout(timer);
            if (err) reject(err);
            else resolve(key!);
          }),
      };
      if (open < MODE32_FILES_OPEN_MAX) {
        open++;
        entry.start();
      } else waiting.push(entry);
    });
}

/** open, fstat (still the checked file?), pread 32 bytes, close; `done` runs after the read, `closed` after the close. */
function readOneKey(file: number, checked: CheckedFile, offset: number, closed: () => void, done: (err: DaemonError | null, key?: Buffer) => void): void {
  const name = tableFileName(file);
  fs.open(checked.path, OPEN_FLAGS, (err, fd) => {
    if (err) {
      closed();
      const hint = err.code === 'EMFILE' || err.code === 'ENFILE' ? '; the descriptor limit is too low (raise LimitNOFILE)' : '';
      return done(new DaemonError('BACKEND_UNAVAILABLE', `secret file ${name} cannot be opened (${err.code ?? 'error'})${hint}`));
    }
    const finish = (error: DaemonError | null, key?: Buffer): void => {
      fs.close(fd, () => closed());
      done(error, key);
    };
    fs.fstat(fd, (err, stat) => {
      if (err) return finish(new DaemonError('BACKEND_UNAVAILABLE', `secret file ${name} cannot be checked (${err.code ?? 'error'})`));
      if (stat.dev !== checked.dev || stat.ino !== checked.ino || tableFileProblem(stat) !== null) {
        return finish(new DaemonError('BACKEND_UNAVAILABLE', `secret file ${name} changed since it was checked; SIGHUP checks and loads the set again`));
      }
      const key = Buffer.alloc(KEY_BYTES);
      fs.read(fd, key, 0, KEY_BYTES, offset, (err, bytesRead) => {
        if (err || bytesRead !== KEY_BYTES) {
          key.fill(0);
          return finish(new DaemonError('BACKEND_UNAVAILABLE', `secret file read failed (${err?.code ?? `short read of ${bytesRead} bytes`})`));
        }
        // A `truncate -s` placeholder reads as zeros: a tag under the all-zero key is one anybody can make.
        if (isZeroKey(key))
          return finish(new DaemonError('BACKEND_UNAVAILABLE', `secret file ${name} holds an all-zero key there (a placeholder?); write random secrets`));
        finish(null, key);
      });
    });
  });
}

/** The directory as resolved now, and the names in it. */
function readSecretDir(dir: string): { resolved: string; names: string[] } {
  try {
    const resolved = fs.realpathSync(dir);
    return { resolved, names: fs.readdirSync(resolved) };
  } catch (err) {
    throw new DaemonError('KEY_LOAD_FAILED', `mode32 secret directory ${dir}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`, { cause: err });
  }
}
