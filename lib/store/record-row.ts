// The `records` table's row as the two SQL stores (SQLite, PostgreSQL) share it: its columns, when a
// row is live (in SQL and in JS, which must agree), and the record it holds.
import type { RecordStatus, SignatureRecord } from './validity-store.js';

export interface RecordRow {
  signature: Buffer;
  message: Buffer;
  key_id: string;
  algorithm: string;
  created_ms: number;
  expires_ms: number | null;
  revoked_ms: number | null;
}

/**
 * SQL: a row is live at the time bound to `now` (a placeholder: `?` or `$2`) when neither revoked nor
 * expired. `of`: the table's alias with its dot (`r.`), where the query names one.
 */
export function liveAtClause(now: string, of = ''): string {
  return `${of}revoked_ms IS NULL AND ${unexpiredAtClause(now, of)}`;
}

/** SQL: a row is not past its expiry at `now` (revoked or not): what reinstate may bring back. */
export function unexpiredAtClause(now: string, of = ''): string {
  return `(${of}expires_ms IS NULL OR ${of}expires_ms > ${now})`;
}

/** The same rule as liveAtClause, for a row already read. */
export function rowStatus(row: RecordRow | undefined, now: number): RecordStatus {
  if (!row) return 'unknown';
  // Expiry first: a revoked record past its expiry is over, as on Redis, where it is gone.
  if (row.expires_ms !== null && row.expires_ms <= now) return 'expired';
  if (row.revoked_ms !== null) return 'revoked';
  return 'valid';
}

export function rowToRecord(row: RecordRow): SignatureRecord {
  return {
    signature: row.signature.toString('hex'),
    message: row.message,
    keyId: row.key_id,
    algorithm: row.algorithm,
    createdMs: row.created_ms,
    expiresMs: row.expires_ms,
  };
}
