// Waiting in tests: poll a condition, or retry an attempt, until it holds or a deadline passes,
// rather than sleeping a fixed time and hoping. One helper for each shape the tests need.

/** A pause. For faults timed on purpose (a daemon stopped for 300 ms), not for waiting on a condition. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `cond` every `everyMs` until it holds (true) or `msMax` passes (false), for `t.ok(await until(...))`. */
export async function until(cond: () => boolean | Promise<boolean>, msMax: number, everyMs = 20): Promise<boolean> {
  const deadline = Date.now() + msMax;
  while (!(await cond())) {
    if (Date.now() > deadline) return false;
    await sleep(everyMs);
  }
  return true;
}

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
  const deadline = Date.now() + msMax;
  for (;;) {
    const value = await probe();
    if (value !== null && value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${msMax} ms waiting for ${what}`);
    await sleep(everyMs);
  }
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
