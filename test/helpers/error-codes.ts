// Tests assert error codes, not messages: these run a function and report the code it threw.
import { isDaemonError } from '../../lib/errors.js';

/** The code and message of what `fn` threw; code 'none' when it did not throw. */
export function failureOf(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    return { code: isDaemonError(err) ? err.code : 'not a DaemonError', message: (err as Error).message };
  }
  return { code: 'none', message: '' };
}

/** The code `fn` threw, or undefined when it did not throw. */
export function codeOf(fn: () => unknown): string | undefined {
  const { code } = failureOf(fn);
  return code === 'none' ? undefined : code;
}
