// How the tezos one-shot admin commands (keygen, hsm-key) end: done, or one line on stderr naming the
// command and the error code, and exit 78 (EX_CONFIG), as every signerd start-up refusal does.
import { EXIT_CONFIG, failureLine } from '../../../lib/errors.js';

export async function runAdminTask(label: string, task: () => void | Promise<void>): Promise<void> {
  try {
    await task();
  } catch (err) {
    process.stderr.write(failureLine(label, err));
    process.exitCode = EXIT_CONFIG;
  }
}
