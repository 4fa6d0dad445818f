// Values that are ready now (secrets held in memory) or later (a token or a file must be read).
// Kept apart so that a request the daemon can answer at once never takes a promise turn
// (lib/server/request-runner.ts: the line server then goes on to the next pipelined line).

export type NowOrLater<T> = T | Promise<T>;

/** fn applied to the value: at once if it is ready, else when it is. */
export function thenNowOrLater<T, U>(value: NowOrLater<T>, fn: (ready: T) => U): NowOrLater<U> {
  return value instanceof Promise ? value.then(fn) : fn(value);
}

/** All the values: at once if every one is ready, else a promise of them all (as Promise.all). */
export function allNowOrLater<T>(values: readonly NowOrLater<T>[]): NowOrLater<T[]> {
  return values.some((v) => v instanceof Promise) ? Promise.all(values.map((v) => Promise.resolve(v))) : (values as T[]);
}
