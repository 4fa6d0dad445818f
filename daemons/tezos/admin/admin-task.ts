// How the tezos one-shot admin commands (keygen, hsm-key) end: done, or one line on stderr naming the
// command and the error code, and exit 78 (EX_CONFIG), as every signerd start-up refusal does.
import { DaemonError, EXIT_CONFIG, isDaemonError } from '../../../lib/errors.js';

export async function runAdminTask(label: string, task: () => void | Promise<void>): Promise<void> {
  try {
    await task();
  } catch (err) {
    const refusal = asDaemonError(err);
    process.stderr.write(`${label}: ${refusal.code}: ${refusal.message}\n`);
    process.exitCode = EXIT_CONFIG;
  }
}

/** A file the operator named that cannot be written or read is a configuration error; anything else is ours. */
function asDaemonError(err: unknown): DaemonError {
  if (isDaemonError(err)) return err;
  const errno = err as NodeJS.ErrnoException;
  if (typeof errno.syscall === 'string') return new DaemonError('CONFIG_INVALID', errno.message, { cause: err });
  return new DaemonError('INTERNAL', (err as Error).message, { cause: err });
}
