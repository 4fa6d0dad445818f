// The PostgreSQL schema of signerd (validity records and tezos watermarks, documented in
// docs/stores.md), created or checked at start. Creation is serialised by a transaction-scoped
// advisory lock, so daemons and `signerd store init` starting together are safe.
import type pg from 'pg';
import { DaemonError } from '../errors.js';

/** Raised by hand when the layout changes; a newer layout than this signerd knows is refused. */
const SCHEMA_VERSION = 1;

/** Key of the advisory lock that serialises schema creation (an arbitrary constant: "signerd"). */
const SCHEMA_LOCK_KEY = 0x7369676e;

function ddl(schema: string): string[] {
  return [
    `CREATE SCHEMA IF NOT EXISTS ${schema}`,
    `CREATE TABLE IF NOT EXISTS ${schema}.schema_version (version integer NOT NULL)`,
    `CREATE TABLE IF NOT EXISTS ${schema}.records (
      signature  bytea PRIMARY KEY,
      message    bytea NOT NULL,
      key_id     text NOT NULL,
      algorithm  text NOT NULL,
      created_ms bigint NOT NULL,
      expires_ms bigint,
      revoked_ms bigint
    )`,
    `CREATE INDEX IF NOT EXISTS records_expires ON ${schema}.records (expires_ms) WHERE expires_ms IS NOT NULL`,
    `CREATE TABLE IF NOT EXISTS ${schema}.watermarks (
      chain_id   text NOT NULL,
      pkh        text NOT NULL,
      kind       text NOT NULL,
      level      bigint NOT NULL,
      round      bigint NOT NULL,
      digest     text NOT NULL,
      signature  text,
      updated_ms bigint NOT NULL,
      PRIMARY KEY (chain_id, pkh, kind)
    )`,
  ];
}

/**
 * Brings the schema to SCHEMA_VERSION, or (create false) refuses one that is not there. The common
 * case reads one row and takes no lock. Every failure to reach the server is thrown as is (the
 * caller retries); a missing or newer schema is CONFIG_INVALID.
 */
export async function ensurePostgresSchema(pool: pg.Pool, schema: string, create: boolean): Promise<void> {
  const found = await schemaVersion(pool, schema);
  if (found !== null) return refuseNewer(found);
  if (!create) {
    throw new DaemonError(
      'CONFIG_INVALID',
      `no signerd schema "${schema}" in this database (signerd store init, or the first daemon start, creates it); check --postgres-url and --postgres-schema. Nothing was created`,
    );
  }
  const client = await pool.connect();
  const ignoreError = (): void => {};
  // Checked out, its connection errors are ours to take; the query in flight rejects on its own.
  client.on('error', ignoreError);
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK_KEY]);
    for (const statement of ddl(schema)) await client.query(statement);
    const { rows } = await client.query<{ version: number }>(`SELECT version FROM ${schema}.schema_version`);
    if (rows.length === 0) await client.query(`INSERT INTO ${schema}.schema_version (version) VALUES ($1)`, [SCHEMA_VERSION]);
    else refuseNewer(rows[0]!.version);
    await client.query('COMMIT');
    client.off('error', ignoreError);
    client.release();
  } catch (err) {
    client.off('error', ignoreError);
    client.release(err as Error);
    throw err;
  }
}

async function schemaVersion(pool: pg.Pool, schema: string): Promise<number | null> {
  const { rows } = await pool.query<{ present: string | null }>('SELECT to_regclass($1) AS present', [`${schema}.schema_version`]);
  if (rows[0]?.present === null) return null;
  const versions = await pool.query<{ version: number }>(`SELECT version FROM ${schema}.schema_version`);
  return versions.rows[0]?.version ?? null;
}

function refuseNewer(found: number): void {
  if (found > SCHEMA_VERSION)
    throw new DaemonError('CONFIG_INVALID', `postgres schema version ${found} is newer than this signerd (${SCHEMA_VERSION}); upgrade signerd`);
}
