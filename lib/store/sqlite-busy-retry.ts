// Retrying a SQLite call while another connection holds the lock. Some calls fail at once with
// SQLITE_BUSY whatever the connection's busy timeout: the switch to WAL journalling does, while another
// process is creating the same database. Used by the validity and watermark stores and the transparency log's sequencer.

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Runs fn, retrying while another connection holds the lock, with sub-millisecond pauses, until lockWaitMsMax. */
export function retryWhileBusy<T>(lockWaitMsMax: number, fn: () => T): T {
  const deadline = Date.now() + lockWaitMsMax;
  let pauseMs = 0.05;
  for (;;) {
    try {
      return fn();
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      if (!code.startsWith('SQLITE_BUSY') || Date.now() >= deadline) throw err;
      // Atomics.wait blocks only this thread: a daemon's start-up, the log's worker, or a one-shot command.
      Atomics.wait(sleeper, 0, 0, pauseMs);
      pauseMs = Math.min(pauseMs * 2, 2);
    }
  }
}
