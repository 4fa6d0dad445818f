// The Postgres connection of one store (validity records or tezos watermarks): the pool with the
// deadlines derived from --store-timeout-ms, the schema brought up (or checked) before first use,
// and the start-up refusals (--require-sync-standby, a URL that reaches a standby).
import type pg from 'pg';
import type { StoreOpenOptions, StoreSettings } from '../config/store-options.js';
import { isLoopback } from '../channels/channel-options.js';
import { DaemonError } from '../errors.js';
import {
  commitSettings,
  connectPostgres,
  describeCommit,
  postgresRefusal,
  postgresUnavailable,
  syncStandbyProblem,
  type CommitSettings,
} from './postgres-connection.js';
import { ensurePostgresSchema } from './postgres-schema.js';
import { waitUntilReady } from './store-ready.js';

/**
 * How long the start-up checks (a primary, not a standby; --require-sync-standby) are trusted before
 * the next request checks again: the URL may move to another server, and a primary's settings may
 * change under a running daemon. As Redis's persistence check.
 */
const RECHECK_MS = 5_000;

export type PostgresStoreSettings = Extract<StoreSettings, { kind: 'postgres' }>;

export interface PostgresStoreClient {
  readonly pool: pg.Pool;
  readonly schema: string;
  /**
   * Resolves true once the schema is there and the server passed the checks; false after msMax (an
   * outage: the daemon serves STORE_UNAVAILABLE until the server is back); CONFIG_INVALID when the
   * server refused us for good (checks, credentials, TLS), which no waiting would mend.
   */
  ready(msMax: number): Promise<boolean>;
  /** Runs `fn` once the store is prepared; any failure is STORE_UNAVAILABLE. */
  guard<T>(what: string, fn: () => Promise<T>): Promise<T>;
  /** The durability of a commit on this server as last read (revoke/reinstate report it). */
  describeDurability(): string;
  close(): Promise<void>;
}

/**
 * sslmode disable or require beyond loopback is allowed (a private link may make it safe) but said
 * at every start: without verify-ca/verify-full the server is not authenticated, so whoever sits on
 * the path could answer for it and read the password.
 */
function warnUnauthenticatedLink(settings: PostgresStoreSettings, log: StoreOpenOptions['log']): void {
  if (settings.sslMode !== 'disable' && settings.sslMode !== 'require') return;
  let host: string;
  try {
    host = new URL(settings.url).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return; // connectPostgres refuses it with the reason
  }
  if (isLoopback(host)) return;
  log.warn(
    { sslmode: settings.sslMode, host },
    settings.sslMode === 'disable'
      ? 'postgres store reached without TLS beyond loopback: records and the password cross the network in clear'
      : 'postgres sslmode require: encrypted, but the server is not authenticated; use verify-full with --postgres-tls-ca',
  );
}

export function openPostgresStore(
  settings: PostgresStoreSettings,
  opts: Pick<StoreOpenOptions, 'create' | 'log' | 'logConnectionErrors' | 'onConnectionChange'>,
): PostgresStoreClient {
  const { logConnectionErrors, onConnectionChange } = opts;
  // An idle connection that fails (the server stopped or restarted) is a change readiness probes at once.
  const onError =
    logConnectionErrors || onConnectionChange
      ? (err: Error) => {
          if (logConnectionErrors) opts.log.warn({ err: err.message }, 'store connection error');
          onConnectionChange?.();
        }
      : undefined;
  warnUnauthenticatedLink(settings, opts.log);
  const pool = connectPostgres({
    ...settings,
    statementTimeoutMs: settings.timeoutMs,
    connectTimeoutMs: Math.max(settings.timeoutMs, 2_000),
    ...(onError ? { onError } : {}),
  });
  let commit: CommitSettings | null = null;
  let schemaReady = false;
  let checkedAtMs = 0;
  let inFlight: Promise<void> | null = null;

  async function check(): Promise<void> {
    if (!schemaReady) await ensurePostgresSchema(pool, settings.schema, opts.create);
    schemaReady = true;
    const found = await commitSettings(pool);
    try {
      if (found.inRecovery)
        throw new DaemonError('CONFIG_INVALID', 'the postgres URL reaches a standby (read-only, possibly behind); point --postgres-url at the primary');
      const problem = settings.requireSyncStandby ? syncStandbyProblem(found) : null;
      if (problem !== null) throw new DaemonError('CONFIG_INVALID', `--require-sync-standby: ${problem}; set synchronous_standby_names on the primary`);
    } catch (err) {
      // Every request fails (STORE_UNAVAILABLE) and checks again until the server passes.
      commit = null;
      throw err;
    }
    commit = found;
    checkedAtMs = Date.now();
  }
  function prepare(): Promise<void> {
    if (commit !== null && Date.now() - checkedAtMs < RECHECK_MS) return Promise.resolve();
    inFlight ??= check().finally(() => {
      inFlight = null;
    });
    return inFlight;
  }

  return {
    pool,
    schema: settings.schema,
    ready: (msMax) => waitUntilReady('postgres', msMax, prepare, postgresRefusal),
    async guard(what, fn) {
      try {
        await prepare();
        return await fn();
      } catch (err) {
        throw err instanceof DaemonError && err.code === 'CONFIG_INVALID'
          ? new DaemonError('STORE_UNAVAILABLE', `postgres store refused: ${err.message}`, { cause: err })
          : postgresUnavailable(what, err);
      }
    },
    describeDurability: () => (commit === null ? 'postgres commit' : describeCommit(commit)),
    close: () => pool.end(),
  };
}
