// One place that turns store options into a pg pool with every safety-relevant option explicit
// (TLS, pool size, connect/statement/lock deadlines), and runs the writes whose commit must be
// durable in the configured sense before they resolve (a revocation, a watermark reserve).
import fs from 'node:fs';
import pg from 'pg';
import type { ConnectionOptions } from 'node:tls';
import { DaemonError } from '../errors.js';
import { readSecretFile } from '../keys/key-file.js';
import { tlsRefusal } from './tls-refusal.js';

export interface PostgresConnectionOptions {
  /** postgres://user@host:port/database; no password and no query parameters (they would override the options below). */
  url: string;
  passwordFile?: string | undefined;
  sslMode: 'disable' | 'require' | 'verify-ca' | 'verify-full';
  tlsCaFile?: string | undefined;
  tlsCertFile?: string | undefined;
  tlsKeyFile?: string | undefined;
  poolSize: number;
  /** Server-side deadline of one statement and of a lock wait; the client gives up a little later. */
  statementTimeoutMs: number;
  connectTimeoutMs: number;
  /** Idle-connection errors (a restarted server) arrive here; without a listener pg would crash the process. */
  onError?: (err: Error) => void;
}

/** The client gives up this long after the server's own statement_timeout should have answered. */
const CLIENT_GRACE_MS = 250;

/** int8 columns (the *_ms times, level, round) as numbers: every value we store is a safe integer. */
const INT8_OID = 20;
const textInt8 = (value: string): number => Number(value);
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary'): unknown =>
    oid === INT8_OID && format !== 'binary' ? textInt8 : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

export function connectPostgres(opts: PostgresConnectionOptions): pg.Pool {
  const address = parsePostgresUrl(opts.url);
  const password = opts.passwordFile ? readSecretFile(opts.passwordFile, 'postgres password file').toString('utf8').trim() : undefined;
  const pool = new pg.Pool({
    ...address,
    ...(password !== undefined ? { password } : {}),
    ssl: sslOptions(opts),
    max: opts.poolSize,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: opts.connectTimeoutMs,
    statement_timeout: opts.statementTimeoutMs,
    lock_timeout: opts.statementTimeoutMs,
    query_timeout: opts.statementTimeoutMs + CLIENT_GRACE_MS,
    // We never hold a transaction open across requests; one left open by a crash must not hold locks.
    idle_in_transaction_session_timeout: Math.max(10 * opts.statementTimeoutMs, 10_000),
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    application_name: 'signerd',
    allowExitOnIdle: false,
    types,
  });
  pool.on('error', opts.onError ?? (() => {}));
  return pool;
}

function parsePostgresUrl(text: string): { host: string; port: number; user: string; database: string } {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new DaemonError('CONFIG_INVALID', '--postgres-url: expected postgres://user@host:port/database');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') throw new DaemonError('CONFIG_INVALID', '--postgres-url: expected postgres://');
  if (url.password) {
    throw new DaemonError('CONFIG_INVALID', 'the postgres URL must not carry a password (it would show in argv and logs); use --postgres-password-file');
  }
  if (url.search) {
    throw new DaemonError('CONFIG_INVALID', '--postgres-url: no query parameters; TLS is set with --postgres-sslmode and --postgres-tls-* options');
  }
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!url.hostname || !url.username || !database) throw new DaemonError('CONFIG_INVALID', '--postgres-url: expected postgres://user@host:port/database');
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port ? Number(url.port) : 5432, user: decodeURIComponent(url.username), database };
}

function sslOptions(opts: PostgresConnectionOptions): false | ConnectionOptions {
  if (opts.sslMode === 'disable') {
    if (opts.tlsCaFile || opts.tlsCertFile || opts.tlsKeyFile)
      throw new DaemonError('CONFIG_INVALID', '--postgres-tls-* options need --postgres-sslmode other than disable');
    return false;
  }
  if (Boolean(opts.tlsCertFile) !== Boolean(opts.tlsKeyFile)) throw new DaemonError('CONFIG_INVALID', '--postgres-tls-cert and --postgres-tls-key go together');
  const client: ConnectionOptions = {
    ...(opts.tlsCaFile ? { ca: fs.readFileSync(opts.tlsCaFile) } : {}),
    ...(opts.tlsCertFile ? { cert: fs.readFileSync(opts.tlsCertFile) } : {}),
    ...(opts.tlsKeyFile ? { key: readSecretFile(opts.tlsKeyFile, 'postgres TLS key') } : {}),
  };
  // require: encrypted but the server is not authenticated (libpq's meaning).
  if (opts.sslMode === 'require') return { ...client, rejectUnauthorized: false };
  if (opts.sslMode === 'verify-ca') return { ...client, rejectUnauthorized: true, checkServerIdentity: () => undefined };
  return { ...client, rejectUnauthorized: true };
}

/**
 * A reason when the server refused us for good: credentials or pg_hba (SQLSTATE class 28), a
 * database that does not exist (3D000), TLS the server does not offer, or a certificate that does
 * not verify. Null for an outage. pg's messages name the user and database, never the password.
 */
export function postgresRefusal(err: unknown): string | null {
  const tls = tlsRefusal(err);
  if (tls !== null) return tls;
  const e = err as { code?: unknown; message?: unknown } | null;
  const message = typeof e?.message === 'string' ? (e.message.split('\n')[0] ?? '').slice(0, 160) : '';
  if (typeof e?.code === 'string' && (e.code.startsWith('28') || e.code === '3D000')) return `${e.code} ${message}`;
  if (/does not support SSL/.test(message)) return `${message} (see --postgres-sslmode)`;
  return null;
}

/** Any Postgres failure becomes STORE_UNAVAILABLE with a short reason (SQLSTATE and first line; no values). */
export function postgresUnavailable(what: string, err: unknown): DaemonError {
  if (err instanceof DaemonError) return err;
  const e = err as { code?: string; message?: string };
  const reason = `${e?.code ? `${e.code} ` : ''}${e?.message?.split('\n')[0]?.slice(0, 120) ?? 'error'}`;
  return new DaemonError('STORE_UNAVAILABLE', `postgres ${what} failed (${reason})`, { cause: err });
}

/**
 * Runs one autocommit write and resolves only once its commit is durable in the server's configured
 * sense. A commit waiting for a synchronous standby is not bounded by statement_timeout (the timeout
 * ends before COMMIT), so the client's query deadline is what gives up; the waiting backend is then
 * cancelled, which makes the server commit locally and emit a WARNING we never report as success.
 * Any WARNING (SQLSTATE 01000, e.g. "canceling wait for synchronous replication") fails the write.
 */
export async function durableWrite(pool: pg.Pool, query: pg.QueryConfig): Promise<pg.QueryResult> {
  const client = await pool.connect();
  let warning: string | null = null;
  const onNotice = (notice: { code?: string | undefined; message?: string | undefined }): void => {
    if (notice.code === '01000' || /synchronous replication/.test(notice.message ?? '')) warning = notice.message ?? 'warning';
  };
  client.on('notice', onNotice);
  // A checked-out client's connection errors are ours to take (the pool listens only to idle ones);
  // unheard, they would crash the process. The query in flight rejects on its own.
  client.on('error', ignoreError);
  try {
    const result = await client.query(query);
    if (warning !== null) throw new Error(`the commit is not confirmed as durable: ${String(warning).slice(0, 120)}`);
    client.off('notice', onNotice);
    client.off('error', ignoreError);
    client.release();
    return result;
  } catch (err) {
    client.off('notice', onNotice);
    client.off('error', ignoreError);
    const pid = (client as unknown as { processID?: number }).processID;
    // Destroyed, never reused: a connection that timed out may still be waiting on the server.
    client.release(err as Error);
    if (typeof pid === 'number' && (err as Error).message.includes('timeout')) {
      pool.query('SELECT pg_cancel_backend($1)', [pid]).catch(() => {});
    }
    throw err;
  }
}

function ignoreError(): void {}

/** What makes an acknowledged commit durable on this server, read in one round trip. */
export interface CommitSettings {
  synchronousCommit: string;
  synchronousStandbyNames: string;
  inRecovery: boolean;
}

export async function commitSettings(pool: pg.Pool): Promise<CommitSettings> {
  const { rows } = await pool.query<{ sc: string; ssn: string; rec: boolean }>(
    "SELECT current_setting('synchronous_commit') AS sc, current_setting('synchronous_standby_names') AS ssn, pg_is_in_recovery() AS rec",
  );
  const row = rows[0]!;
  return { synchronousCommit: row.sc, synchronousStandbyNames: row.ssn, inRecovery: row.rec };
}

/** A commit survives the loss of the primary only when a synchronous standby must confirm it first. */
export function syncStandbyProblem(settings: CommitSettings): string | null {
  if (settings.synchronousStandbyNames.trim() === '') return 'synchronous_standby_names is empty (commits are not confirmed by a standby)';
  if (settings.synchronousCommit === 'off' || settings.synchronousCommit === 'local') {
    return `synchronous_commit is ${settings.synchronousCommit} (commits do not wait for the synchronous standby)`;
  }
  return null;
}

/** The durability a revoke or reinstate reports: which commit acknowledged it. */
export function describeCommit(settings: CommitSettings): string {
  const standby = settings.synchronousStandbyNames.trim();
  if (settings.synchronousCommit === 'off') return 'postgres commit with synchronous_commit=off (not flushed yet; a server crash can undo it)';
  if (standby === '' || settings.synchronousCommit === 'local') {
    return `postgres commit flushed on the primary (synchronous_commit=${settings.synchronousCommit}, no synchronous standby)`;
  }
  return `postgres commit confirmed by synchronous standby (synchronous_commit=${settings.synchronousCommit}, synchronous_standby_names=${standby})`;
}
