// Retrying a SQLite call while another connection holds the lock. Some calls fail at once with
// SQLITE_BUSY whatever the connection's busy timeout: the switch to WAL journalling does, while another
// process is creating the same database. Used by the validity and watermark stores and the transparency log's sequencer.
import { DaemonError } from '../errors.js';
import type { FileMoved } from './sqlite-file-identity.js';

const sleeper = new Int32Array(new SharedArrayBuffer(4));

const isBusy = (err: unknown): boolean => ((err as { code?: string }).code ?? '').startsWith('SQLITE_BUSY');
const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));

/**
 * Runs fn, retrying while another connection holds the lock, with sub-millisecond pauses, until
 * lockWaitMsMax. It blocks its thread while it waits: for a daemon's start-up, the log's writer
 * thread and one-shot commands; a daemon's requests use whileBusy.
 */
export function retryWhileBusy<T>(lockWaitMsMax: number, fn: () => T): T {
  const deadline = Date.now() + lockWaitMsMax;
  let pauseMs = 0.05;
  for (;;) {
    try {
      return fn();
    } catch (err) {
      if (!isBusy(err) || Date.now() >= deadline) throw err;
      Atomics.wait(sleeper, 0, 0, pauseMs);
      pauseMs = Math.min(pauseMs * 2, 2);
    }
  }
}

/** The longest pause between two tries of whileBusy: how late a freed lock may be noticed. */
const BUSY_PAUSE_MS_MAX = 8;

/**
 * Runs fn (on a connection whose own busy timeout is 0), and while another connection holds the
 * lock tries again after a timer, until lockWaitMsMax: the event loop serves every other request
 * meanwhile. SQLite's own busy handler would sleep on the daemon's one thread, so one process (or
 * an operator's sqlite3 shell) holding the lock would stall every connection and key. fn must be
 * safe to run again after SQLITE_BUSY: a statement or an IMMEDIATE transaction that found the lock
 * taken has done nothing.
 */
function whileBusy<T>(lockWaitMsMax: number, fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    if (!isBusy(err) || lockWaitMsMax <= 0) return Promise.reject(asError(err));
  }
  const deadline = Date.now() + lockWaitMsMax;
  return new Promise<T>((resolve, reject) => {
    let pauseMs = 1;
    const again = (): void => {
      try {
        resolve(fn());
      } catch (err) {
        const left = deadline - Date.now();
        if (!isBusy(err) || left <= 0) {
          reject(asError(err));
          return;
        }
        setTimeout(again, Math.min(pauseMs, left));
        pauseMs = Math.min(pauseMs * 2, BUSY_PAUSE_MS_MAX);
      }
    };
    setTimeout(again, pauseMs);
  });
}

/**
 * What a store's call checks after it ran (lib/store/sqlite-file-identity.ts): what of its files
 * moved since they were opened, or null; and what the refusal tells the operator to do.
 */
export interface StoreFiles {
  moved(what: string): FileMoved | null;
  advice: string;
}

/**
 * The call wrapper of a SQLite store on a daemon's thread: whileBusy, and whatever still fails (a
 * lock held past lockWaitMsMax, a broken database) becomes STORE_UNAVAILABLE naming `label` and the
 * SQLite code (fail closed), never an exception that escapes as INTERNAL.
 */
export function sqliteStoreCall(label: string, lockWaitMsMax: number, files?: StoreFiles): <T>(what: string, fn: () => T) => Promise<T> {
  const checked =
    <T>(what: string, fn: () => T) =>
    (): T => {
      const result = fn();
      const moved = files?.moved(what) ?? null;
      if (moved !== null) {
        throw new DaemonError('STORE_UNAVAILABLE', `${label} ${what}: ${moved.change} while this process had it open; ${files!.advice}: ${moved.file}`);
      }
      return result;
    };
  return (what, fn) =>
    whileBusy(lockWaitMsMax, checked(what, fn)).catch((err: unknown) => {
      // The store's own refusal says more than an SQLite code would.
      if (err instanceof DaemonError) throw err;
      throw new DaemonError('STORE_UNAVAILABLE', `${label} ${what} failed (${(err as { code?: string }).code ?? 'error'})`, { cause: err });
    });
}
