// The embedded validity store: SQLite in WAL mode in the state directory, shared safely by the
// separate sign and verify processes (readers never block the writer), durable across restarts.
import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { DaemonError } from '../errors.js';
import { SQLITE_MIGRATION_WAIT_MS_MAX } from '../limits.js';
import type { ValidityAdmin, ValidityStore } from './validity-store.js';
import { liveAtClause, rowStatus, rowToRecord, unexpiredAtClause, type RecordRow } from './record-row.js';
import { makeDirectory } from '../config/make-directory.js';
import { retryWhileBusy, sqliteStoreCall } from './sqlite-busy-retry.js';
import { sqliteFileIdentity } from './sqlite-file-identity.js';
import { checkStateDirectory } from '../keys/key-file.js';

export interface SqliteStoreOptions {
  stateDir: string;
  /** How long a writer waits for another process's lock before giving up (STORE_UNAVAILABLE). */
  busyTimeoutMs: number;
  /**
   * NORMAL for the daemons: a crash may lose the last new signatures, which fails closed.
   * FULL for admin commands: a revocation must survive power loss.
   */
  synchronous: 'NORMAL' | 'FULL';
  /**
   * Daemons (and import, migrate-seed) create the database on first use. Commands that only look
   * up records refuse a directory without one: a wrong --state-dir must not pass for an empty store.
   */
  create: boolean;
}

export const SQLITE_FILE = 'validity.sqlite';

/**
 * Schema versions (PRAGMA user_version). 0: the first layout, signature as TEXT hex; an RSA-4096
 * key (1,024 characters) is too long for a B-tree cell, so every row spilled into overflow pages
 * (about 4.7 KB a record) and a lookup read several pages. 1: signature as BLOB (512 bytes for
 * RSA-4096): about 0.7 KB a record and half the lookup time. Version 0 is migrated on open.
 */
const SCHEMA_VERSION = 1;

/** A row is live at the time bound to ?. */
const LIVE_AT = liveAtClause('?');

/**
 * The database holds every signed message: made 0600 whatever the umask (an admin command's is the
 * shell's, often 0022). SQLite gives its -wal and -shm files the database file's mode.
 */
function createPrivateFile(file: string): void {
  try {
    fs.closeSync(fs.openSync(file, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY, 0o600));
  } catch (err) {
    // Another process made it first (with its own 0600), or it was there already.
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

export function openSqliteValidityStore(opts: SqliteStoreOptions): ValidityStore & ValidityAdmin & { purgeExpired(): Promise<number> } {
  let db: Database.Database;
  const file = path.join(opts.stateDir, SQLITE_FILE);
  if (!opts.create) refuseMissingStore(file, 'validity store', 'the sign daemons create it on their first start');
  try {
    if (opts.create) makeDirectory(opts.stateDir, 0o700);
    checkStateDirectory(opts.stateDir);
    if (opts.create) createPrivateFile(file);
    db = new Database(file, { timeout: opts.busyTimeoutMs, fileMustExist: !opts.create });
    // Fails at once, whatever the busy timeout, while another daemon is creating the same database.
    retryWhileBusy(opts.busyTimeoutMs, () => db.pragma('journal_mode = WAL'));
    db.pragma(`synchronous = ${opts.synchronous}`);
    migrate(db, opts.busyTimeoutMs);
    // From here on SQLite never sleeps on the daemon's thread: run() waits for a busy lock on a timer.
    db.pragma('busy_timeout = 0');
  } catch (err) {
    if (err instanceof DaemonError && err.code === 'KEY_FILE_INSECURE') throw err;
    throw new DaemonError('CONFIG_INVALID', `state directory ${opts.stateDir}: cannot open the validity database (${(err as Error).message})`, { cause: err });
  }

  const insert = db.prepare('INSERT INTO records (signature, message, key_id, algorithm, created_ms, expires_ms) VALUES (?, ?, ?, ?, ?, ?)');
  const select = db.prepare('SELECT * FROM records WHERE signature = ?');
  // The verify path: only the live row's needed columns, as an array (no object per row); about
  // 30% faster than SELECT * on every verify request.
  const selectLive = db.prepare(`SELECT message, key_id, algorithm, created_ms, expires_ms FROM records WHERE signature = ? AND ${LIVE_AT}`).raw(true);
  const revoke = db.prepare(`UPDATE records SET revoked_ms = ? WHERE signature = ? AND ${LIVE_AT}`);
  const reinstate = db.prepare(
    `UPDATE records SET revoked_ms = NULL, expires_ms = coalesce(?, expires_ms) WHERE signature = ? AND revoked_ms IS NOT NULL AND ${unexpiredAtClause('?')}`,
  );
  const insertIfAbsent = db.prepare(
    'INSERT INTO records (signature, message, key_id, algorithm, created_ms, expires_ms) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(signature) DO NOTHING',
  );
  const purge = db.prepare('DELETE FROM records WHERE expires_ms IS NOT NULL AND expires_ms <= ?');
  // The store's API speaks lowercase hex (as Redis keys do); the table keys on the bytes.
  const key = (signature: string): Buffer => Buffer.from(signature, 'hex');

  // better-sqlite3 is synchronous: every call goes through one wrapper (a busy lock waited for on a timer, fail closed).
  // Every answer comes from the store at --state-dir, and every write lands there, or the call fails:
  // a read checks the database file after it ran (one stat), a write its log as well.
  const identity = sqliteFileIdentity(file);
  const run = sqliteStoreCall('sqlite', opts.busyTimeoutMs, {
    moved: (what) => identity(what !== 'read'),
    advice: 'nothing is read from or written to it any more (put the state directory back, or restart; docs/stores.md)',
  });

  return {
    ready: async () => true,
    put: (r) => run('write', () => void insert.run(key(r.signature), r.message, r.keyId, r.algorithm, r.createdMs, r.expiresMs)),
    getLive: (signature) =>
      run('read', () => {
        const live = selectLive.get(key(signature), Date.now()) as [Buffer, string, string, number, number | null] | undefined;
        return live ? { signature, message: live[0], keyId: live[1], algorithm: live[2], createdMs: live[3], expiresMs: live[4] } : null;
      }),
    inspect: (signature) =>
      run('read', () => {
        const row = select.get(key(signature)) as RecordRow | undefined;
        return { status: rowStatus(row, Date.now()), record: row ? rowToRecord(row) : null };
      }),
    revoke: (signature) => run('revoke', () => revoke.run(Date.now(), key(signature), Date.now()).changes === 1),
    reinstate: (signature, expiresMs) => run('reinstate', () => reinstate.run(expiresMs, key(signature), Date.now()).changes === 1),
    restore: (r) => run('restore', () => insertIfAbsent.run(key(r.signature), r.message, r.keyId, r.algorithm, r.createdMs, r.expiresMs).changes === 1),
    describeDurability: () =>
      opts.synchronous === 'FULL'
        ? 'sqlite commit fsynced on this host (synchronous=FULL)'
        : 'sqlite commit on this host (synchronous=NORMAL: a power loss can undo it)',
    purgeExpired: () => run('purge', () => purge.run(Date.now()).changes),
    close: async () => {
      db.close();
    },
  };
}

/** CONFIG_INVALID naming the path when `file` is not there; nothing is created. */
export function refuseMissingStore(file: string, what: string, createdBy: string): void {
  if (fs.existsSync(file)) return;
  throw new DaemonError('CONFIG_INVALID', `no ${what} at ${file} (${createdBy}); check --state-dir. Nothing was created`);
}

/**
 * Brings the file to SCHEMA_VERSION. The common case (already there) reads one pragma and takes no
 * lock. Otherwise the sign and verify processes may open it at once: the immediate transaction
 * lets exactly one of them migrate, and the other waits for it (up to SQLITE_MIGRATION_WAIT_MS_MAX,
 * not the store's one-second deadline: a large store takes a while) and then finds the new
 * version. One transaction, so a crash leaves either the old table or the new one.
 */
function migrate(db: Database.Database, busyTimeoutMs: number): void {
  const version = (): number => db.pragma('user_version', { simple: true }) as number;
  const refuseNewer = (found: number): void => {
    if (found > SCHEMA_VERSION) throw new Error(`schema version ${found} is newer than this signerd (${SCHEMA_VERSION}); upgrade signerd`);
  };
  const found = version();
  refuseNewer(found);
  if (found === SCHEMA_VERSION) return;
  db.pragma(`busy_timeout = ${SQLITE_MIGRATION_WAIT_MS_MAX}`);
  try {
    db.transaction(() => {
      const current = version();
      refuseNewer(current);
      if (current === SCHEMA_VERSION) return;
      db.exec(`CREATE TABLE IF NOT EXISTS records (
        signature  BLOB PRIMARY KEY,
        message    BLOB NOT NULL,
        key_id     TEXT NOT NULL,
        algorithm  TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER,
        revoked_ms INTEGER
      ) WITHOUT ROWID`);
      const old = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'signatures'").get();
      if (old) {
        // unhex() is in the SQLite better-sqlite3 bundles (3.41+); every stored key was validated hex.
        db.exec('INSERT OR IGNORE INTO records SELECT unhex(signature), message, key_id, algorithm, created_ms, expires_ms, revoked_ms FROM signatures');
        db.exec('DROP TABLE signatures');
      }
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    }).immediate();
  } finally {
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
  }
}
