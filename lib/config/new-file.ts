// Files an admin command creates (keys, certificates, registrations, exports): made with their mode in
// one step and never over an existing file, so a second run cannot destroy a key it did not make.
import fs from 'node:fs';
import { DaemonError } from '../errors.js';

/**
 * Creates `file` with `content` and exactly `mode` ('wx': fails if it exists, the mode applies at
 * creation; the fchmod undoes the umask, which would otherwise narrow a public file). An existing file
 * is refused by name as CONFIG_INVALID; other errors are thrown as they are (commandFailure maps them).
 * Everything after the creation goes through its descriptor: a chmod by name would follow a link
 * someone who may write in the directory renamed over the new file meanwhile.
 */
export function writeNewFile(file: string, content: string | Buffer, mode: number): void {
  let fd: number;
  try {
    fd = fs.openSync(file, 'wx', mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    throw new DaemonError('CONFIG_INVALID', `${file} exists; refusing to overwrite it`, { cause: err });
  }
  try {
    fs.fchmodSync(fd, mode);
    fs.writeFileSync(fd, content);
  } finally {
    fs.closeSync(fd);
  }
}
