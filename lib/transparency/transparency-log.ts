// The appender the daemons call: `append(event)` resolves with the entry's index once the entry is
// durable (group commit: entries that arrive while a commit is running share the next one, so one
// fsync serves many requests), and a signed checkpoint follows within checkpointIntervalMs.
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { DaemonError, toDaemonError } from '../errors.js';
import {
  LOG_APPEND_MS_MAX,
  LOG_BATCH_ENTRIES_MAX,
  LOG_CHECKPOINT_INTERVAL_MS,
  LOG_LOCK_WAIT_MS_MAX,
  LOG_OPEN_MS_MAX,
  LOG_PENDING_ENTRIES_MAX,
} from '../limits.js';
import { PUBLIC_DIR_MODE } from './durable-file.js';
import { encodeLogEntry, type EncodedEntry, type LogEvent } from './log-entry.js';
import { signCheckpoint, verifierKeyOf, type CheckpointSigner } from './checkpoint-signer.js';
import {
  packBatch,
  type HeadState,
  type ReconciledFile,
  type SequencerCall,
  type SequencerReady,
  type SequencerReply,
  type SequencerWorkerData,
} from './sequencer-messages.js';
import { openSequencer, SEQUENCER_FILE, type PublishedState, type Sequencer } from './sequencer-db.js';
import { makeDirectory } from '../config/make-directory.js';

export interface TransparencyLogOptions {
  /** The log directory: C2SP tiles and checkpoint, and the sequencer database. */
  dir: string;
  /** Checkpoint keys, all named after the log (two during a key rotation). */
  signers: readonly CheckpointSigner[];
  log?: Logger;
  /** Deadline of one append (default LOG_APPEND_MS_MAX). */
  appendMsMax?: number;
  /** Longest wait for another process's commit (default LOG_LOCK_WAIT_MS_MAX). */
  lockWaitMsMax?: number;
  /** A checkpoint is published at most this long after an append (default LOG_CHECKPOINT_INTERVAL_MS). */
  checkpointIntervalMs?: number;
}

export interface TransparencyLog {
  /** The log's name: the checkpoints' origin line. */
  readonly origin: string;
  /** The note verifier keys of the checkpoint signers (`<name>+<hash>+<base64>`). */
  readonly verifierKeys: readonly string[];
  /**
   * Appends one event; resolves with its index once it is durable. Rejects with BAD_REQUEST (the
   * event is malformed), LOG_UNAVAILABLE (not durable within the deadline: withhold the result) or
   * SHUTTING_DOWN (after close). A rejected entry may still be in the log; a resolved one always is.
   */
  append(event: LogEvent): Promise<number>;
  /** Signs and publishes a checkpoint covering every durable entry now; null while the log is empty. */
  publish(): Promise<PublishedState | null>;
  /** Resolves when an append could be made durable now (the writer takes the write lock in time); LOG_UNAVAILABLE when not. */
  probe(): Promise<void>;
  /** Commits what is pending, publishes a last checkpoint and stops the writer thread. */
  close(): Promise<void>;
  /** What this process has seen of the log, for its metrics. */
  stats(): LogStats;
}

/**
 * The log as one process sees it. `entries` grows with its own appends (and a publish's head);
 * `checkpointEntries` is the tree size of the last checkpoint it published or found published: the
 * difference is what no checkpoint covers yet, which only grows while publishing fails.
 */
export interface LogStats {
  entries: number;
  checkpointEntries: number;
  publishFailures: number;
}

/**
 * An append that comes this long after the one before it is committed on the daemon's own thread when
 * nothing else is pending or in flight: with no other append to share its fsync, the hand-over to the
 * writer thread and back (two thread wake-ups: about 0.5 ms on the 2-core VM of docs/benchmarks.md,
 * beside a 0.3 ms commit) would be most of its cost. Closer appends go to the writer thread, where
 * they share commits and the event loop never waits for a disk.
 */
const LONE_APPEND_GAP_MS = 1;

/** A readiness probe waits this long for the write lock: within the readiness deadline (PROBE_MS_MAX, 1.5 s). */
const LOG_PROBE_LOCK_WAIT_MS = 1_000;

interface Pending {
  entry: EncodedEntry;
  /** When the append came in: past its deadline it is refused rather than sent. */
  enqueuedMs: number;
  /** It came LONE_APPEND_GAP_MS or more after the previous append (or is the first). */
  lone: boolean;
  resolve(index: number): void;
  reject(err: unknown): void;
}

interface Call {
  resolve(result: unknown): void;
  reject(err: unknown): void;
  timer: NodeJS.Timeout;
}

export async function openTransparencyLog(opts: TransparencyLogOptions): Promise<TransparencyLog> {
  const signers = opts.signers;
  if (signers.length === 0) throw new DaemonError('CONFIG_INVALID', 'the transparency log needs a key');
  const origin = signers[0]!.name;
  if (signers.some((s) => s.name !== origin)) throw new DaemonError('CONFIG_INVALID', "every transparency log key must carry the log's name");
  const appendMsMax = opts.appendMsMax ?? LOG_APPEND_MS_MAX;
  const intervalMs = opts.checkpointIntervalMs ?? LOG_CHECKPOINT_INTERVAL_MS;
  try {
    makeDirectory(opts.dir, PUBLIC_DIR_MODE);
  } catch (err) {
    throw new DaemonError('CONFIG_INVALID', `transparency log directory ${opts.dir}: ${(err as NodeJS.ErrnoException).code ?? 'unusable'}`);
  }
  const workerData: SequencerWorkerData = { dir: opts.dir, origin, lockWaitMsMax: opts.lockWaitMsMax ?? LOG_LOCK_WAIT_MS_MAX };

  let worker: Worker | null = null;
  let starting: Promise<Worker> | null = null;
  let nextId = 1;
  const calls = new Map<number, Call>();

  const failCalls = (err: DaemonError): void => {
    for (const [id, call] of calls) {
      clearTimeout(call.timer);
      calls.delete(id);
      call.reject(err);
    }
  };

  /** Starts the writer thread (again, after it died): it opens the database and reconciles the files. */
  function startWorker(): Promise<Worker> {
    starting ??= new Promise<Worker>((resolve, reject) => {
      // No inherited --import/--require hooks: they are for the main thread (a test runner's
      // TypeScript loader, an APM agent) and would load into every writer thread at its start.
      const w = new Worker(new URL('./sequencer-worker.js', import.meta.url), { workerData, execArgv: [] });
      const timer = setTimeout(() => {
        void w.terminate();
        reject(new DaemonError('LOG_UNAVAILABLE', `the transparency log did not open within ${LOG_OPEN_MS_MAX} ms`));
      }, LOG_OPEN_MS_MAX);
      w.once('message', (ready: SequencerReady) => {
        clearTimeout(timer);
        if (!ready.ready) {
          reject(new DaemonError(ready.code, ready.message));
          return;
        }
        reconciled = ready.file;
        w.on('message', (reply: SequencerReply) => {
          const call = calls.get(reply.id);
          if (!call) return; // timed out meanwhile
          calls.delete(reply.id);
          clearTimeout(call.timer);
          if (reply.ok) call.resolve(reply.result);
          else call.reject(new DaemonError(reply.code, reply.message));
        });
        worker = w;
        resolve(w);
      });
      w.once('error', (err) => {
        opts.log?.error({ err }, 'transparency log writer failed');
      });
      w.once('exit', () => {
        clearTimeout(timer);
        if (worker === w) worker = null;
        failCalls(new DaemonError('LOG_UNAVAILABLE', 'the transparency log writer stopped'));
        reject(new DaemonError('LOG_UNAVAILABLE', 'the transparency log writer stopped while opening'));
      });
    }).finally(() => {
      starting = null;
    });
    return starting;
  }

  /** `late`: the refusal when the deadline passes (an append's names its whole budget, not what was left of it). */
  async function call<T>(request: SequencerCall, deadlineMs = appendMsMax, late = `the transparency log did not answer within ${deadlineMs} ms`): Promise<T> {
    const w = worker ?? (await startWorker());
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        calls.delete(id);
        reject(new DaemonError('LOG_UNAVAILABLE', late));
      }, deadlineMs);
      calls.set(id, { resolve: resolve, reject, timer });
      // An append's packed buffer is moved to the worker, not copied.
      w.postMessage({ ...request, id }, request.op === 'append' ? [request.batch.data.buffer as ArrayBuffer] : []);
    });
  }

  // Group commit: one batch in flight; what arrives meanwhile goes out as the next batch.
  const pending: Pending[] = [];
  let inFlight = false;
  let lastArrival = -Infinity;
  // This thread's own connection, for lone appends; opened on the first one.
  let local: Sequencer | null = null;
  // The database file the writer thread reconciled with the published checkpoint (sequencer-worker.ts).
  let reconciled: ReconciledFile | null = null;
  let closed = false;
  let idle: (() => void) | null = null;
  let probing: Promise<void> | null = null;

  function flush(): void {
    if (inFlight || pending.length === 0) {
      if (!inFlight && pending.length === 0) idle?.();
      return;
    }
    // Each append's deadline counts from its arrival: one that waited out the commits ahead of it
    // is refused now, not committed late (its result would be withheld anyway).
    const now = Date.now();
    while (pending.length > 0 && now - pending[0]!.enqueuedMs > appendMsMax) {
      pending.shift()!.reject(new DaemonError('LOG_UNAVAILABLE', `the transparency log did not commit within ${appendMsMax} ms`));
    }
    if (pending.length === 0) return flush();
    if (pending.length === 1 && pending[0]!.lone && appendHere(pending[0]!)) return flush();
    inFlight = true;
    const batch = pending.splice(0, LOG_BATCH_ENTRIES_MAX);
    // The oldest entry's deadline bounds the batch's: no append waits longer than appendMsMax.
    call<{ first: number }>(
      { op: 'append', batch: packBatch(batch.map((p) => p.entry)) },
      Math.max(1, appendMsMax - (now - batch[0]!.enqueuedMs)),
      `the transparency log did not commit within ${appendMsMax} ms`,
    )
      .then(
        ({ first }) => {
          batch.forEach((p, i) => p.resolve(first + i));
          stats.entries = Math.max(stats.entries, first + batch.length);
          schedulePublish();
        },
        (err: unknown) => {
          const e = toDaemonError(err, 'LOG_UNAVAILABLE');
          opts.log?.error({ code: e.code, err: e.message, entries: batch.length }, 'transparency log append failed');
          for (const p of batch) p.reject(e);
        },
      )
      .finally(() => {
        inFlight = false;
        flush();
      });
  }

  /**
   * Commits a lone append on this thread, without waiting for the write lock. False sends it to the
   * writer thread instead, which waits for the lock within its bounds and reports any failure: the
   * lock is held (another process, or a checkpoint being recorded), or the database failed here.
   */
  function appendHere(p: Pending): boolean {
    let first: number;
    try {
      local ??= openReconciled();
      if (local === null) return false;
      ({ first } = local.append([p.entry]));
    } catch (err) {
      if (!((err as { code?: string }).code ?? '').startsWith('SQLITE_BUSY')) closeLocal();
      return false;
    }
    pending.shift();
    p.resolve(first);
    stats.entries = Math.max(stats.entries, first + 1);
    schedulePublish();
    return true;
  }

  /**
   * This thread's connection, on the file the writer thread reconciled, or null. A database restored
   * from a backup or replaced under the daemon was never checked against the published checkpoint:
   * appending to it would give published indexes to other entries (a fork), and the writer thread,
   * which refuses it, reports why. Checked after the open: the connection holds what it opened.
   */
  function openReconciled(): Sequencer | null {
    const opened = openSequencer(opts.dir, { origin, lockWaitMsMax: 0, autoCheckpoint: false });
    const now = fs.statSync(path.join(opts.dir, SEQUENCER_FILE), { throwIfNoEntry: false });
    if (reconciled !== null && now !== undefined && now.dev === reconciled.dev && now.ino === reconciled.ino) return opened;
    opened.close();
    return null;
  }

  function closeLocal(): void {
    try {
      local?.close();
    } catch {
      // Closing a connection that failed: nothing is left to lose.
    }
    local = null;
  }

  let publishTimer: NodeJS.Timeout | null = null;

  function schedulePublish(): void {
    if (publishTimer || closed) return;
    publishTimer = setTimeout(() => {
      publishTimer = null;
      publish().catch((err: unknown) => {
        const e = toDaemonError(err, 'LOG_UNAVAILABLE');
        stats.publishFailures++;
        opts.log?.error({ code: e.code, err: e.message }, 'transparency log checkpoint failed; retrying');
        schedulePublish();
      });
    }, intervalMs);
    publishTimer.unref();
  }

  // Publishes run one after another: one already running may have read the head before entries
  // that are durable now, so a new request waits for it and then looks again.
  let publishChain: Promise<unknown> = Promise.resolve();
  const stats: LogStats = { entries: 0, checkpointEntries: 0, publishFailures: 0 };

  function publish(): Promise<PublishedState | null> {
    const run = async (): Promise<PublishedState | null> => {
      const head = await call<HeadState>({ op: 'head' });
      stats.entries = Math.max(stats.entries, head.size);
      stats.checkpointEntries = Math.max(stats.checkpointEntries, head.publishedSize);
      if (head.size === 0) return null;
      if (head.size <= head.publishedSize) return { size: head.publishedSize, note: head.publishedNote! };
      const note = await signCheckpoint({ origin, size: head.size, root: Buffer.from(head.root) }, signers);
      const published = await call<PublishedState>({ op: 'publish', size: head.size, note }, Math.max(appendMsMax, LOG_OPEN_MS_MAX));
      stats.checkpointEntries = Math.max(stats.checkpointEntries, published.size);
      opts.log?.debug({ size: published.size }, 'transparency log checkpoint published');
      return published;
    };
    const next = publishChain.then(run, run);
    publishChain = next.catch(() => undefined);
    return next;
  }

  await startWorker();
  opts.log?.info({ dir: opts.dir, origin }, 'transparency log open');
  // Entries a crashed process made durable but never checkpointed get their checkpoint now.
  await publish();

  return {
    origin,
    verifierKeys: signers.map(verifierKeyOf),
    append(event) {
      if (closed) return Promise.reject(new DaemonError('SHUTTING_DOWN', 'the transparency log is closed'));
      let entry: EncodedEntry;
      try {
        entry = encodeLogEntry(event, Date.now());
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
      if (pending.length >= LOG_PENDING_ENTRIES_MAX) return Promise.reject(new DaemonError('BUSY', 'too many appends waiting for the transparency log'));
      const arrival = performance.now();
      const lone = arrival - lastArrival >= LONE_APPEND_GAP_MS;
      lastArrival = arrival;
      return new Promise<number>((resolve, reject) => {
        pending.push({ entry, enqueuedMs: Date.now(), lone, resolve, reject });
        if (pending.length === 1) queueMicrotask(flush);
      });
    },
    publish,
    stats: () => ({ ...stats }),
    probe() {
      if (closed) return Promise.reject(new DaemonError('SHUTTING_DOWN', 'the transparency log is closed'));
      // One probe in the writer's queue at a time: while the lock is held, probes must not pile up
      // ahead of appends.
      probing ??= call({ op: 'probe', lockWaitMs: LOG_PROBE_LOCK_WAIT_MS })
        .then(
          () => undefined,
          (err: unknown) => {
            throw toDaemonError(err, 'LOG_UNAVAILABLE');
          },
        )
        .finally(() => (probing = null));
      return probing;
    },
    async close() {
      if (closed) return;
      closed = true;
      if (publishTimer) clearTimeout(publishTimer);
      publishTimer = null;
      if (inFlight || pending.length > 0) await new Promise<void>((resolve) => (idle = resolve));
      closeLocal();
      try {
        await publish();
      } catch (err) {
        opts.log?.error({ code: toDaemonError(err).code }, 'transparency log: last checkpoint failed; the next open publishes it');
      }
      const w = worker;
      if (w) {
        await call({ op: 'close' }).catch(() => undefined);
        await w.terminate();
      }
    },
  };
}
