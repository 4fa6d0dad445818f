// The HTTP server's private upload directory, `<temp>/signerd-uploads-<pid>-XXXXXX`, one per process.
// A process that ended without its shutdown (SIGKILL, out of memory, a crash) leaves its directory and
// the uploads it held; the next start removes those of processes that no longer run.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { processRunning } from '../process-running.js';

const PREFIX = 'signerd-uploads-';
const LEFT_BEHIND = /^signerd-uploads-(\d+)-[A-Za-z0-9]{6}$/;

export async function makeUploadDirectory(tempDir: string, log: Logger): Promise<string> {
  await removeLeftBehind(tempDir, log);
  return fs.mkdtemp(path.join(tempDir, `${PREFIX}${process.pid}-`));
}

/**
 * Only directories named by this server, owned by this user, whose process is gone: a temp directory
 * shared with other daemons (or other software) loses nothing else. (Daemons sharing one must also
 * share a PID namespace, or one would not see the other's process.)
 */
async function removeLeftBehind(tempDir: string, log: Logger): Promise<void> {
  const names = await fs.readdir(tempDir).catch(() => [] as string[]);
  for (const name of names) {
    const pid = LEFT_BEHIND.exec(name)?.[1];
    if (pid === undefined || processRunning(Number(pid))) continue;
    const dir = path.join(tempDir, name);
    const stat = await fs.lstat(dir).catch(() => null);
    if (!stat?.isDirectory() || stat.uid !== (process.getuid?.() ?? 0)) continue;
    await fs.rm(dir, { recursive: true, force: true });
    log.info({ dir: name }, 'removed the upload directory of a process that no longer runs');
  }
}
