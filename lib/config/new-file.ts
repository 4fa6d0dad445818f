// Files an admin command creates (keys, certificates, registrations, exports): made with their mode in
// one step and never over an existing file, so a second run cannot destroy a key it did not make.
import fs from 'node:fs';
import { DaemonError } from '../errors.js';

/**
 * Creates `file` with `content` and exactly `mode` ('wx': fails if it exists, the mode applies at
 * creation; the chmod undoes the umask, which would otherwise narrow a public file). An existing file
 * is refused by name as CONFIG_INVALID; other errors are thrown as they are (commandFailure maps them).
 */
export function writeNewFile(file: string, content: string | Buffer, mode: number): void {
  try {
    fs.writeFileSync(file, content, { mode, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    throw new DaemonError('CONFIG_INVALID', `${file} exists; refusing to overwrite it`, { cause: err });
  }
  fs.chmodSync(file, mode);
}
