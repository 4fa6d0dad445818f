// Parsers for numeric command-line and config-file values: a bad number is CONFIG_INVALID
// naming the option, not a NaN that silently disables a limit.
import { DaemonError } from '../errors.js';

export function parseCount(option: string, min = 0, max = Number.MAX_SAFE_INTEGER): (value: string | number) => number {
  return (value) => {
    const n = typeof value === 'number' ? value : /^\d+$/.test(value.trim()) ? Number(value) : NaN;
    if (!Number.isSafeInteger(n) || n < min) throw new DaemonError('CONFIG_INVALID', `${option}: expected a whole number >= ${min}, got "${value}"`);
    if (n > max) throw new DaemonError('CONFIG_INVALID', `${option}: at most ${max}, got ${n}`);
    return n;
  };
}

/**
 * The longest a duration option may be: one day. Node's timers stop at 2^31 - 1 ms (about 24.8
 * days; past it a timer fires after 1 ms), and options are used with margins and multiples (the
 * drain plus 5 s, a store deadline plus 2 s, PostgreSQL's idle_in_transaction_session_timeout at 10×
 * the store deadline, itself an int of ms): a day leaves every one of them far inside its limit.
 */
const DURATION_MS_MAX = 86_400_000;

/** A `--…-ms` option: whole milliseconds from `min` to DURATION_MS_MAX. */
export function parseMilliseconds(option: string, min = 0): (value: string | number) => number {
  return parseCount(option, min, DURATION_MS_MAX);
}

export function parsePort(option: string): (value: string | number) => number {
  const count = parseCount(option, 0);
  return (value) => {
    const n = count(value);
    if (n > 65535) throw new DaemonError('CONFIG_INVALID', `${option}: ${n} is not a TCP port`);
    return n;
  };
}
