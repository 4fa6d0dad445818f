// The embedded watermark store: SQLite in the state directory, WAL with synchronous=FULL, reserves
// in BEGIN IMMEDIATE transactions, so daemon processes sharing the file serialise on the write
// lock and a committed mark survives SIGKILL and power loss before any signature leaves.
import Database from 'better-sqlite3';
import path from 'node:path';
import { DaemonError } from '../../../lib/errors.js';
import { refuseMissingStore } from '../../../lib/store/sqlite-validity-store.js';
import { decide, raises } from './watermark-rule.js';
import { rowEntry, rowMark, type WatermarkRow } from './watermark-row.js';
import type { Mark, MarkEntry, RequestedMark, ReserveOutcome, Slot, WatermarkBackend } from './watermark-store.js';
import { makeDirectory } from '../../../lib/config/make-directory.js';
import { retryWhileBusy, sqliteStoreCall } from '../../../lib/store/sqlite-busy-retry.js';
import { sqliteFileIdentity } from '../../../lib/store/sqlite-file-identity.js';
import { checkStateDirectory } from '../../../lib/keys/key-file.js';

export const WATERMARK_SQLITE_FILE = 'tezos-watermarks.sqlite';

export interface SqliteWatermarkOptions {
  stateDir: string;
  /** How long a writer waits for another process's lock before giving up (STORE_UNAVAILABLE). */
  busyTimeoutMs: number;
  /** False for commands that only read marks: a state directory without the file is refused, not filled. */
  create: boolean;
}

export function openSqliteWatermarkStore(opts: SqliteWatermarkOptions): WatermarkBackend {
  const db = openDatabase(opts);
  // better-sqlite3 is synchronous: every call goes through one wrapper (a busy lock waited for on a timer, fail closed).
  // A reserve counts only if it landed in the store at --state-dir: a directory removed or replaced
  // under the daemon (or its -wal deleted) would take marks into unlinked files, and after a restart
  // the same slot could be signed again. Every call checks the files after it ran.
  const identity = sqliteFileIdentity(path.join(opts.stateDir, WATERMARK_SQLITE_FILE));
  const guard = sqliteStoreCall('sqlite watermark', opts.busyTimeoutMs, {
    moved: () => identity(true),
    advice: 'nothing is signed until it is back (put the state directory back, or restart; docs/tezos.md)',
  });
  const select = db.prepare('SELECT * FROM watermarks WHERE chain_id = ? AND pkh = ? AND kind = ?');
  const upsert = db.prepare(
    `INSERT INTO watermarks (chain_id, pkh, kind, level, round, digest, signature, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT(chain_id, pkh, kind) DO UPDATE SET level = excluded.level, round = excluded.round, digest = excluded.digest,
       signature = excluded.signature, updated_ms = excluded.updated_ms`,
  );
  const sign = db.prepare(
    'UPDATE watermarks SET signature = ?, updated_ms = ? WHERE chain_id = ? AND pkh = ? AND kind = ? AND level = ? AND round = ? AND digest = ? AND signature IS NULL',
  );
  const all = db.prepare('SELECT * FROM watermarks ORDER BY chain_id, pkh, kind');

  const readRow = (slot: Slot): Mark | null => rowMark(select.get(slot.chainId, slot.pkh, slot.kind) as WatermarkRow | undefined);
  // The check and the write run under one IMMEDIATE transaction: the write lock is taken before
  // the read, so two processes can never both see the old mark.
  // Reserves that arrive together share one transaction and one fsync (group commit); each is
  // decided in arrival order on the rows the earlier ones wrote, and none resolves before COMMIT.
  // One batch at a time: those that arrive while one waits for the lock or commits go in the next.
  const reserveTx = db.transaction((batch: PendingReserve[]): ReserveOutcome[] =>
    batch.map(({ slot, mark }) => {
      const outcome = decide(readRow(slot), mark);
      if (outcome.kind === 'reserved') upsert.run(slot.chainId, slot.pkh, slot.kind, mark.level, mark.round, mark.digest, null, Date.now());
      return outcome;
    }),
  );
  let pending: PendingReserve[] = [];
  let inFlight = false;
  let probeStamp: Database.Statement | null = null;
  function flush(): void {
    if (inFlight || pending.length === 0) return;
    inFlight = true;
    const batch = pending;
    pending = [];
    guard('reserve', () => reserveTx.immediate(batch))
      .then(
        (outcomes) => batch.forEach((p, i) => p.resolve(outcomes[i]!)),
        (err: unknown) => batch.forEach((p) => p.reject(err)),
      )
      .finally(() => {
        inFlight = false;
        flush();
      });
  }
  function reserve(slot: Slot, mark: RequestedMark): Promise<ReserveOutcome> {
    return new Promise((resolve, reject) => {
      if (pending.push({ slot, mark, resolve, reject }) === 1 && !inFlight) setImmediate(flush);
    });
  }
  const putTx = db.transaction((entry: MarkEntry, force: boolean): boolean => {
    const stored = readRow(entry);
    if (!force && !raises(entry, stored)) return false;
    upsert.run(entry.chainId, entry.pkh, entry.kind, entry.level, entry.round, entry.digest, entry.signature, Date.now());
    return true;
  });

  return {
    reserve,
    recordSignature: (slot, mark, signature) =>
      guard('record', () => {
        // The signature is kept for identical retries only; losing it to power loss makes a retry
        // a 409, never a second signature. So this write skips the fsync; the next reserve's FULL
        // commit flushes it with its own.
        db.pragma('synchronous = NORMAL');
        try {
          sign.run(signature, Date.now(), slot.chainId, slot.pkh, slot.kind, mark.level, mark.round, mark.digest);
        } finally {
          db.pragma('synchronous = FULL');
        }
      }),
    read: (slot) => guard('read', () => readRow(slot)),
    list: () => guard('list', () => (all.all() as WatermarkRow[]).map(rowEntry)),
    put: (entry, force) => guard('write', () => putTx.immediate(entry, force)),
    ready: async () => true,
    // A real, synced write beside the marks (a table of its own, which no export or list reads): an
    // empty transaction would pass on a file this process may not write (SQLITE_READONLY), where
    // every reserve fails. A lock another process holds past the deadline is not ready either.
    probeWrite: () =>
      guard('probe', () => {
        // Made by the first probe, and prepared once (admin commands, which may only read, never probe).
        if (probeStamp === null) {
          db.exec('CREATE TABLE IF NOT EXISTS readiness_probe (id INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL)');
          probeStamp = db.prepare('INSERT INTO readiness_probe (id, at_ms) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET at_ms = excluded.at_ms');
        }
        probeStamp.run(Date.now());
      }),
    close: async () => {
      db.close();
    },
  };
}

function openDatabase(opts: SqliteWatermarkOptions): Database.Database {
  const file = path.join(opts.stateDir, WATERMARK_SQLITE_FILE);
  if (!opts.create) refuseMissingStore(file, 'watermark store', 'signerd tezos creates it on its first start');
  try {
    if (opts.create) makeDirectory(opts.stateDir, 0o700);
    checkStateDirectory(opts.stateDir);
    const db = new Database(file, { timeout: opts.busyTimeoutMs, fileMustExist: !opts.create });
    // Fails at once, whatever the busy timeout, while another process is creating the same database.
    retryWhileBusy(opts.busyTimeoutMs, () => db.pragma('journal_mode = WAL'));
    // FULL: a committed reserve is on disk (WAL fsync) before we sign; NORMAL could lose it on power loss.
    db.pragma('synchronous = FULL');
    db.exec(`CREATE TABLE IF NOT EXISTS watermarks (
      chain_id   TEXT NOT NULL,
      pkh        TEXT NOT NULL,
      kind       TEXT NOT NULL,
      level      INTEGER NOT NULL,
      round      INTEGER NOT NULL,
      digest     TEXT NOT NULL,
      signature  TEXT,
      updated_ms INTEGER NOT NULL,
      PRIMARY KEY (chain_id, pkh, kind)
    ) WITHOUT ROWID`);
    // From here on SQLite never sleeps on the daemon's thread: guard() waits for a busy lock on a timer.
    db.pragma('busy_timeout = 0');
    return db;
  } catch (err) {
    if (err instanceof DaemonError && err.code === 'KEY_FILE_INSECURE') throw err;
    throw new DaemonError('CONFIG_INVALID', `state directory ${opts.stateDir}: cannot open the watermark database (${(err as Error).message})`, { cause: err });
  }
}

interface PendingReserve {
  slot: Slot;
  mark: RequestedMark;
  resolve(outcome: ReserveOutcome): void;
  reject(err: unknown): void;
}
