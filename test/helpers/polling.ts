// Waiting in tests: poll a condition, or retry an attempt, until it holds or a deadline passes,
// rather than sleeping a fixed time and hoping. One loop (retryUntil) serves every shape the tests need.

/** A pause. For faults timed on purpose (a daemon stopped for 300 ms), not for waiting on a condition. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Runs `attempt(i)` (i from 0) until `done(result)` or `msMax` has passed, `everyMs` apart, and
 * returns the last result: the caller asserts on it, so a timeout fails with what was last seen.
 */
export async function retryUntil<T>(attempt: (i: number) => Promise<T>, done: (result: T) => boolean, msMax: number, everyMs: number): Promise<T> {
  const deadline = Date.now() + msMax;
  for (let i = 0; ; i++) {
    const result = await attempt(i);
    if (done(result) || Date.now() >= deadline) return result;
    await sleep(everyMs);
  }
}

/** Polls `cond` every `everyMs` until it holds (true) or `msMax` passes (false), for `t.ok(await until(...))`. */
export function until(cond: () => boolean | Promise<boolean>, msMax: number, everyMs = 20): Promise<boolean> {
  return retryUntil(
    async () => cond(),
    (held) => held,
    msMax,
    everyMs,
  );
}

const isValue = <T>(value: T | null | undefined | false): value is T => value !== null && value !== undefined && value !== false;

/**
 * Polls `probe` every `everyMs` until it gives a value (anything but null, undefined or false) and
 * returns it; once `msMax` has passed, throws naming `what`.
 */
export async function waitFor<T>(
  probe: () => T | null | undefined | false | Promise<T | null | undefined | false>,
  msMax: number,
  what: string,
  everyMs = 20,
): Promise<T> {
  const value = await retryUntil(async () => probe(), isValue, msMax, everyMs);
  if (!isValue(value)) throw new Error(`timed out after ${msMax} ms waiting for ${what}`);
  return value;
}
