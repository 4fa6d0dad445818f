// Reading a file that decides what a daemon does (its --config file, the tezos keys file): like the
// client registry, it may be changed by its owner only, or another local user could point the daemon
// at other keys, loosen its policy or open a plaintext listener.
import { DaemonError, isDaemonError } from '../errors.js';
import { readCheckedFile, TRUSTED_MODE_CHECK } from '../keys/key-file.js';
import { CONFIG_FILE_BYTES_MAX } from '../limits.js';

/**
 * The file's text and mode, read through the one descriptor its owner and mode were checked on. A file
 * that cannot be read is CONFIG_INVALID (it is configuration, not a key); a file another user may
 * change is KEY_FILE_INSECURE, as for every file that grants access. `pipes`: a pipe, as
 * `--config <(…)` gives, is read to its end (start-up only: opening one waits for its writer, which a
 * reload on the event loop must never do).
 */
export function readTrustedFile(file: string, what: string, opts: { pipes?: boolean } = {}): { text: string; mode: number } {
  try {
    const { data, mode } = readCheckedFile(file, what, TRUSTED_MODE_CHECK, CONFIG_FILE_BYTES_MAX, { pipes: opts.pipes === true });
    return { text: data.toString('utf8'), mode };
  } catch (err) {
    if (isDaemonError(err) && err.code === 'KEY_LOAD_FAILED') throw new DaemonError('CONFIG_INVALID', err.message, { cause: err });
    throw err;
  }
}
