// Writing the log's public files so that a crash leaves either the old file or the whole new one:
// a temporary file beside the target, fsync, rename, then fsync of every directory that changed.
// Files are 0644 and directories 0755 whatever the umask: access is governed by the log directory.
// Below the log directory every directory must be a real one: no write or removal goes through a link.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { makeDirectory } from '../config/make-directory.js';
import { DaemonError } from '../errors.js';
import { processRunning } from '../process-running.js';

const PUBLIC_FILE_MODE = 0o644;
export const PUBLIC_DIR_MODE = 0o755;

/** Collects the directories a batch of writes changed, so each is fsynced once at the end. */
export interface DirectorySync {
  /** Creates `dir` and its missing parents (0755), remembering every directory whose entries changed. */
  ensure(dir: string): void;
  changed(dir: string): void;
  /** fsyncs every changed directory; after this the renames are durable. */
  flush(): void;
  /** The same on libuv's pool, so the writer thread keeps committing meanwhile. */
  flushAsync(): Promise<void>;
}

/**
 * `root`: the directory the writes go under (the log's); it is never made again once gone, since the
 * log that was there went with it (the sequencer then refuses appends), and a symbolic link below it
 * on the way to a write is refused (refuseLinksBelow).
 */
export function directorySync(root?: string): DirectorySync {
  const dirs = new Set<string>();
  const take = (): string[] => {
    const list = [...dirs];
    dirs.clear();
    return list;
  };
  return {
    ensure(dir) {
      if (root !== undefined) refuseLinksBelow(root, dir);
      if (fs.existsSync(dir)) return;
      if (root !== undefined && !fs.existsSync(root)) throw new DaemonError('LOG_UNAVAILABLE', `the log directory ${root} is gone; it is not made again`);
      const first = makeDirectory(dir, PUBLIC_DIR_MODE);
      // mkdir takes a link made meanwhile for the directory it would have made: look again before chmod.
      if (root !== undefined) refuseLinksBelow(root, dir);
      if (first === undefined) return;
      // makeDirectory names what it made by absolute path: walk up from the absolute form of dir.
      for (let d = path.resolve(dir); ; d = path.dirname(d)) {
        fs.chmodSync(d, PUBLIC_DIR_MODE);
        dirs.add(d);
        if (d === first) break;
      }
      dirs.add(path.dirname(first));
    },
    changed: (dir) => void dirs.add(dir),
    flush() {
      for (const dir of take()) {
        const fd = fs.openSync(dir, 'r');
        try {
          fs.fsyncSync(fd);
        } finally {
          fs.closeSync(fd);
        }
      }
    },
    async flushAsync() {
      await Promise.all(
        take().map(async (dir) => {
          const handle = await fs.promises.open(dir, 'r');
          try {
            await handle.sync();
          } finally {
            await handle.close();
          }
        }),
      );
    },
  };
}

/**
 * Refuses a symbolic link at any directory from below `root` down to `dir` (lstat, not stat). The log
 * directory belongs to the service user, and an admin command run as root (revoke with
 * --transparency-log) writing through `tile/entries/000.p` → elsewhere would make root-owned files,
 * or remove them, where that user chose. `root` itself may be a link: the operator named it. A missing
 * directory ends the walk: it is made as a real one.
 */
export function refuseLinksBelow(root: string, dir: string): void {
  const top = path.resolve(root);
  const relative = path.relative(top, path.resolve(dir));
  if (relative === '' || relative.startsWith('..') || path.isAbsolute(relative)) return;
  let at = top;
  for (const part of relative.split(path.sep)) {
    at = path.join(at, part);
    let stat: fs.Stats;
    try {
      stat = fs.lstatSync(at);
    } catch {
      return;
    }
    if (stat.isSymbolicLink()) {
      throw new DaemonError(
        'LOG_UNAVAILABLE',
        `${at} is a symbolic link; the transparency log writes only into real directories under ${root} (remove the link)`,
      );
    }
    if (!stat.isDirectory()) return;
  }
}

const TEMPORARY = /\.tmp-(\d+)-[0-9a-f]{8}$/;

/**
 * Removes the temporary files a killed writer left in `dir` (named after its pid). Another live
 * process's temporary files are left alone: it is about to rename them.
 */
export function removeStaleTemporaries(dir: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = TEMPORARY.exec(name)?.[1];
    if (pid === undefined || processRunning(Number(pid))) continue;
    fs.rmSync(path.join(dir, name), { force: true });
  }
}

function temporaryName(file: string): string {
  return `${file}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
}

/** Writes and fsyncs `data` beside `file` under a temporary name, off the calling thread; returns that name. */
export async function writeTemporary(file: string, data: Uint8Array, dirs: DirectorySync): Promise<string> {
  dirs.ensure(path.dirname(file));
  const temp = temporaryName(file);
  const handle = await fs.promises.open(temp, 'wx', PUBLIC_FILE_MODE);
  try {
    await handle.chmod(PUBLIC_FILE_MODE);
    await handle.writeFile(data);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await fs.promises.rm(temp, { force: true });
    throw err;
  }
  await handle.close();
  return temp;
}

/** writeFileAtomically off the calling thread: the write and fsync run on libuv's pool. */
export async function writeFileAtomicallyAsync(file: string, data: Uint8Array, dirs: DirectorySync): Promise<void> {
  const temp = await writeTemporary(file, data, dirs);
  await fs.promises.rename(temp, file);
  dirs.changed(path.dirname(file));
}

/** Writes `data` to `file` atomically and durably (once `dirs.flush()` has run). */
export function writeFileAtomically(file: string, data: Uint8Array, dirs: DirectorySync): void {
  const dir = path.dirname(file);
  dirs.ensure(dir);
  const temp = temporaryName(file);
  const fd = fs.openSync(temp, 'wx', PUBLIC_FILE_MODE);
  try {
    fs.fchmodSync(fd, PUBLIC_FILE_MODE);
    fs.writeSync(fd, data);
    fs.fsyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(temp, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  fs.renameSync(temp, file);
  dirs.changed(dir);
}
