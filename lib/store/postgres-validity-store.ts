// The PostgreSQL validity store: one row per signature in <schema>.records (the SQLite layout),
// shared by every sign and verify host. Reads go to the primary; revocations and reinstatements
// resolve only once their commit is durable in the server's configured sense (durableWrite).
import { DaemonError } from '../errors.js';
import { durableWrite } from './postgres-connection.js';
import type { PostgresStoreClient } from './postgres-store-client.js';
import type { SignatureRecord, ValidityAdmin, ValidityStore } from './validity-store.js';
import { liveAtClause, rowStatus, rowToRecord, unexpiredAtClause, type RecordRow } from './record-row.js';

/** A row is live at the time bound to $2. */
const LIVE_AT = liveAtClause('$2');

interface InRecovery {
  in_recovery: boolean;
}

/** The row a read found (null: none), refused when the server answering is a standby. */
function primaryRow<T extends Partial<RecordRow> & InRecovery>(row: T | undefined): T | null {
  if (!row) throw new Error('the read returned no row');
  if (row.in_recovery) throw new DaemonError('STORE_UNAVAILABLE', 'the postgres URL now reaches a standby (read-only, possibly behind); no verdict from it');
  return row.message === null || row.message === undefined ? null : row;
}

export function createPostgresValidityStore(store: PostgresStoreClient): ValidityStore & ValidityAdmin & { purgeExpired(): Promise<number> } {
  const { pool, schema } = store;
  const table = `${schema}.records`;
  const key = (signature: string): Buffer => Buffer.from(signature, 'hex');
  // Named statements are prepared once per connection.
  const q = {
    insert: `INSERT INTO ${table} (signature, message, key_id, algorithm, created_ms, expires_ms) VALUES ($1, $2, $3, $4, $5, $6)`,
    // Each read also asks whether the server is a standby: the URL may move (a VIP, a proxy) to one
    // that is behind, where a revoked record could still read as live.
    selectLive: `SELECT pg_is_in_recovery() AS in_recovery, r.message, r.key_id, r.algorithm, r.created_ms, r.expires_ms
      FROM (VALUES (1)) AS one (x) LEFT JOIN ${table} AS r ON r.signature = $1 AND ${liveAtClause('$2', 'r.')}`,
    select: `SELECT pg_is_in_recovery() AS in_recovery, r.* FROM (VALUES (1)) AS one (x) LEFT JOIN ${table} AS r ON r.signature = $1`,
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
    // Every write is bounded as a revocation is: one left waiting for a synchronous standby that is
    // gone is cancelled on the server, not left to hold a connection slot until the standby returns.
    put: (r) => store.guard('write', async () => void (await durableWrite(pool, named('insert', recordValues(r))))),
    getLive: (signature) =>
      store.guard('read', async () => {
        const live = primaryRow((await pool.query<Partial<RecordRow> & InRecovery>(named('selectLive', [key(signature), Date.now()]))).rows[0]);
        return live
          ? {
              signature,
              message: live.message!,
              keyId: live.key_id!,
              algorithm: live.algorithm!,
              createdMs: live.created_ms!,
              expiresMs: live.expires_ms ?? null,
            }
          : null;
      }),
    inspect: (signature) =>
      store.guard('read', async () => {
        const row = primaryRow((await pool.query<Partial<RecordRow> & InRecovery>(named('select', [key(signature)]))).rows[0]) as RecordRow | null;
        return { status: rowStatus(row ?? undefined, Date.now()), record: row ? rowToRecord(row) : null };
      }),
    revoke: (signature) =>
      store.guard('revoke', async () => (await durableWrite(pool, named('revoke', [key(signature), Date.now(), Date.now()]))).rowCount === 1),
    reinstate: (signature, expiresMs) =>
      store.guard('reinstate', async () => (await durableWrite(pool, named('reinstate', [key(signature), expiresMs, Date.now()]))).rowCount === 1),
    restore: (r) => store.guard('restore', async () => (await durableWrite(pool, named('insertIfAbsent', recordValues(r)))).rowCount === 1),
    describeDurability: () => store.describeDurability(),
    purgeExpired: () => store.guard('purge', async () => (await durableWrite(pool, named('purge', [Date.now()]))).rowCount ?? 0),
    close: () => store.close(),
  };
}
