// The embedded validity store: SQLite in WAL mode in the state directory, shared safely by the
// separate sign and verify processes (readers never block the writer), durable across restarts.
import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { DaemonError } from '../errors.js';
import type { RecordStatus, SignatureRecord, ValidityAdmin, ValidityStore } from './validity-store.js';

export interface SqliteStoreOptions {
  stateDir: string;
  /** How long a writer waits for another process's lock before giving up (STORE_UNAVAILABLE). */
  busyTimeoutMs: number;
  /**
   * NORMAL for the daemons: a crash may lose the last new signatures, which fails closed.
   * FULL for admin commands: a revocation must survive power loss.
   */
  synchronous: 'NORMAL' | 'FULL';
}

export const SQLITE_FILE = 'validity.sqlite';

interface Row {
  signature: string;
  message: Buffer;
  key_id: string;
  algorithm: string;
  created_ms: number;
  expires_ms: number | null;
  revoked_ms: number | null;
}

export function openSqliteValidityStore(opts: SqliteStoreOptions): ValidityStore & ValidityAdmin & { purgeExpired(): number } {
  let db: Database.Database;
  try {
    fs.mkdirSync(opts.stateDir, { recursive: true, mode: 0o700 });
    db = new Database(path.join(opts.stateDir, SQLITE_FILE), { timeout: opts.busyTimeoutMs });
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${opts.synchronous}`);
    db.exec(`CREATE TABLE IF NOT EXISTS signatures (
      signature  TEXT PRIMARY KEY,
      message    BLOB NOT NULL,
      key_id     TEXT NOT NULL,
      algorithm  TEXT NOT NULL,
      created_ms INTEGER NOT NULL,
      expires_ms INTEGER,
      revoked_ms INTEGER
    ) WITHOUT ROWID`);
  } catch (err) {
    throw new DaemonError('CONFIG_INVALID', `state directory ${opts.stateDir}: cannot open the validity database (${(err as Error).message})`, { cause: err });
  }

  const insert = db.prepare(
    'INSERT INTO signatures (signature, message, key_id, algorithm, created_ms, expires_ms) VALUES (?, ?, ?, ?, ?, ?)',
  );
  const select = db.prepare('SELECT * FROM signatures WHERE signature = ?');
  const revoke = db.prepare('UPDATE signatures SET revoked_ms = ? WHERE signature = ? AND revoked_ms IS NULL AND (expires_ms IS NULL OR expires_ms > ?)');
  const reinstate = db.prepare('UPDATE signatures SET revoked_ms = NULL, expires_ms = coalesce(?, expires_ms) WHERE signature = ? AND revoked_ms IS NOT NULL');
  const upsert = db.prepare(
    `INSERT INTO signatures (signature, message, key_id, algorithm, created_ms, expires_ms) VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT(signature) DO UPDATE SET message = excluded.message, key_id = excluded.key_id, algorithm = excluded.algorithm,
       created_ms = excluded.created_ms, expires_ms = excluded.expires_ms, revoked_ms = NULL`,
  );
  const purge = db.prepare('DELETE FROM signatures WHERE expires_ms IS NOT NULL AND expires_ms <= ?');

  // better-sqlite3 is synchronous; every call is wrapped so a busy or broken database becomes
  // STORE_UNAVAILABLE (fail closed), never an exception that escapes as INTERNAL.
  function run<T>(what: string, fn: () => T): Promise<T> {
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(new DaemonError('STORE_UNAVAILABLE', `sqlite ${what} failed (${(err as { code?: string }).code ?? 'error'})`, { cause: err }));
    }
  }

  function statusOf(row: Row | undefined, now: number): RecordStatus {
    if (!row) return 'unknown';
    if (row.revoked_ms !== null) return 'revoked';
    if (row.expires_ms !== null && row.expires_ms <= now) return 'expired';
    return 'valid';
  }

  return {
    ready: async () => true,
    put: (r) => run('write', () => void insert.run(r.signature, r.message, r.keyId, r.algorithm, r.createdMs, r.expiresMs)),
    getLive: (signature) =>
      run('read', () => {
        const row = select.get(signature) as Row | undefined;
        return statusOf(row, Date.now()) === 'valid' ? toRecord(row!) : null;
      }),
    inspect: (signature) =>
      run('read', () => {
        const row = select.get(signature) as Row | undefined;
        return { status: statusOf(row, Date.now()), record: row ? toRecord(row) : null };
      }),
    revoke: (signature) => run('revoke', () => revoke.run(Date.now(), signature, Date.now()).changes === 1),
    reinstate: (signature, ttlSeconds) =>
      run('reinstate', () => reinstate.run(ttlSeconds === null ? null : Date.now() + ttlSeconds * 1000, signature).changes === 1),
    restore: (r) => run('restore', () => void upsert.run(r.signature, r.message, r.keyId, r.algorithm, r.createdMs, r.expiresMs)),
    purgeExpired: () => purge.run(Date.now()).changes,
    close: async () => {
      db.close();
    },
  };
}

function toRecord(row: Row): SignatureRecord {
  return {
    signature: row.signature,
    message: row.message,
    keyId: row.key_id,
    algorithm: row.algorithm,
    createdMs: row.created_ms,
    expiresMs: row.expires_ms,
  };
}
