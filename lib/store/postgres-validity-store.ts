// The PostgreSQL validity store: one row per signature in <schema>.records (the SQLite layout),
// shared by every sign and verify host. Reads go to the primary; revocations and reinstatements
// resolve only once their commit is durable in the server's configured sense (durableWrite).
import { durableWrite } from './postgres-connection.js';
import type { PostgresStoreClient } from './postgres-store-client.js';
import type { SignatureRecord, ValidityAdmin, ValidityStore } from './validity-store.js';
import { liveAtClause, rowStatus, rowToRecord, unexpiredAtClause, type RecordRow } from './record-row.js';

/** A row is live at the time bound to $2. */
const LIVE_AT = liveAtClause('$2');

export function createPostgresValidityStore(store: PostgresStoreClient): ValidityStore & ValidityAdmin & { purgeExpired(): Promise<number> } {
  const { pool, schema } = store;
  const table = `${schema}.records`;
  const key = (signature: string): Buffer => Buffer.from(signature, 'hex');
  // Named statements are prepared once per connection.
  const q = {
    insert: `INSERT INTO ${table} (signature, message, key_id, algorithm, created_ms, expires_ms) VALUES ($1, $2, $3, $4, $5, $6)`,
    selectLive: `SELECT message, key_id, algorithm, created_ms, expires_ms FROM ${table} WHERE signature = $1 AND ${LIVE_AT}`,
    select: `SELECT * FROM ${table} WHERE signature = $1`,
    revoke: `UPDATE ${table} SET revoked_ms = $3 WHERE signature = $1 AND ${LIVE_AT}`,
    reinstate: `UPDATE ${table} SET revoked_ms = NULL, expires_ms = coalesce($2, expires_ms) WHERE signature = $1 AND revoked_ms IS NOT NULL AND ${unexpiredAtClause('$3')}`,
    insertIfAbsent: `INSERT INTO ${table} (signature, message, key_id, algorithm, created_ms, expires_ms) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (signature) DO NOTHING`,
    purge: `DELETE FROM ${table} WHERE expires_ms IS NOT NULL AND expires_ms <= $1`,
  };
  const named = (name: keyof typeof q, values: unknown[]): { name: string; text: string; values: unknown[] } => ({
    name: `signerd_${schema}_${name}`,
    text: q[name],
    values,
  });
  const recordValues = (r: SignatureRecord): unknown[] => [key(r.signature), r.message, r.keyId, r.algorithm, r.createdMs, r.expiresMs];

  return {
    ready: (msMax) => store.ready(msMax),
    put: (r) => store.guard('write', async () => void (await pool.query(named('insert', recordValues(r))))),
    getLive: (signature) =>
      store.guard('read', async () => {
        const { rows } = await pool.query<Omit<RecordRow, 'signature' | 'revoked_ms'>>(named('selectLive', [key(signature), Date.now()]));
        const live = rows[0];
        return live
          ? { signature, message: live.message, keyId: live.key_id, algorithm: live.algorithm, createdMs: live.created_ms, expiresMs: live.expires_ms }
          : null;
      }),
    inspect: (signature) =>
      store.guard('read', async () => {
        const row = (await pool.query<RecordRow>(named('select', [key(signature)]))).rows[0];
        return { status: rowStatus(row, Date.now()), record: row ? rowToRecord(row) : null };
      }),
    revoke: (signature) =>
      store.guard('revoke', async () => (await durableWrite(pool, named('revoke', [key(signature), Date.now(), Date.now()]))).rowCount === 1),
    reinstate: (signature, expiresMs) =>
      store.guard('reinstate', async () => (await durableWrite(pool, named('reinstate', [key(signature), expiresMs, Date.now()]))).rowCount === 1),
    restore: (r) => store.guard('restore', async () => (await durableWrite(pool, named('insertIfAbsent', recordValues(r)))).rowCount === 1),
    describeDurability: () => store.describeDurability(),
    purgeExpired: () => store.guard('purge', async () => (await pool.query(named('purge', [Date.now()]))).rowCount ?? 0),
    close: () => store.close(),
  };
}
