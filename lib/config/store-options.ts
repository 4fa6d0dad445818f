// Command-line options that choose and reach the validity store, shared by the sign and verify
// daemons and the admin commands, and their typed settings. Opening a store is lib/store/open-validity-store.ts.
import { Command, Option, type OptionValues } from '@commander-js/extra-typings';
import { DEFAULT_LIMITS } from '../limits.js';
import type { RedisConnectionOptions } from '../store/redis-connection.js';
import type { DurabilityLog } from '../store/redis-durability.js';
import { parseCount } from './numbers.js';

export type StoreSettings =
  | { kind: 'sqlite'; stateDir: string; timeoutMs: number }
  | ({ kind: 'redis'; prefix: string; waitReplicas: number; allowVolatile: boolean; timeoutMs: number } & RedisAddress);

/** Where Redis is and how to authenticate; the deadlines are derived from --store-timeout-ms. */
type RedisAddress = Omit<RedisConnectionOptions, 'commandTimeoutMs' | 'connectTimeoutMs' | 'onError'>;

const list = (value: string): string[] =>
  value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

export function addStoreOptions<Args extends unknown[], Opts extends OptionValues>(cmd: Command<Args, Opts>) {
  return cmd
    .addOption(
      new Option('--store <kind>', 'validity store: embedded SQLite, or Redis (standalone, Sentinel or Cluster)')
        .choices(['sqlite', 'redis'] as const)
        .default('sqlite' as const),
    )
    .option(
      '--state-dir <dir>',
      'sqlite: directory of the embedded database (shared by sign and verify daemons)',
      process.env['STATE_DIRECTORY'] ?? '/var/lib/signerd',
    )
    .option('--redis-url <url>', 'redis: redis://host:port/db, or rediss:// for TLS (no password here)', 'redis://127.0.0.1:6379')
    .option('--redis-sentinels <list>', 'redis: comma-separated sentinel host:port list (Sentinel mode)', list)
    .option('--redis-sentinel-name <name>', 'redis: the Sentinel master name')
    .option('--redis-cluster <list>', 'redis: comma-separated cluster seed host:port list (Cluster mode)', list)
    .option('--redis-password-file <file>', 'redis: file holding the password (mode 0600; e.g. a systemd credential)')
    .option('--redis-tls-ca <file>', 'redis: CA certificate for rediss:// or TLS Sentinel/Cluster')
    .option('--redis-prefix <prefix>', 'redis: key namespace; records are <prefix>sig:{<hex>}', 'signerd:')
    .option(
      '--redis-wait-replicas <n>',
      'redis: durable writes (revoke/reinstate; every tezos watermark reserve) wait for this many replica acks (0: none); satisfies the persistence check',
      parseCount('--redis-wait-replicas'),
      0,
    )
    .option(
      '--redis-allow-volatile',
      'redis: run even though Redis can lose a write it acknowledged (no AOF, appendfsync not always, or CONFIG refused); warned at every start',
    )
    .option('--store-timeout-ms <ms>', 'deadline of one store command', parseCount('--store-timeout-ms', 1), DEFAULT_LIMITS.storeCommandMsMax);
}

/** The option values addStoreOptions declares. */
export type StoreOptionValues = ReturnType<ReturnType<typeof addStoreOptions<[], Record<never, never>>>['opts']>;

export function storeSettings(opts: StoreOptionValues): StoreSettings {
  const timeoutMs = opts.storeTimeoutMs;
  if (opts.store === 'sqlite') return { kind: 'sqlite', stateDir: opts.stateDir, timeoutMs };
  return {
    kind: 'redis',
    url: opts.redisUrl,
    sentinels: opts.redisSentinels,
    sentinelName: opts.redisSentinelName,
    clusterNodes: opts.redisCluster,
    passwordFile: opts.redisPasswordFile,
    tlsCaFile: opts.redisTlsCa,
    prefix: opts.redisPrefix,
    waitReplicas: opts.redisWaitReplicas,
    allowVolatile: opts.redisAllowVolatile === true,
    timeoutMs,
  };
}

export interface StoreOpenOptions {
  /** For admin commands: a revocation must survive power loss (SQLite synchronous=FULL). */
  durable: boolean;
  /** SQLite: create the database if the state directory has none (daemons); false refuses instead (lookups). */
  create: boolean;
  /** Start-up warnings (--redis-allow-volatile) and, when `logConnectionErrors`, Redis reconnect errors. */
  log: DurabilityLog;
  /** Daemons log reconnect errors; admin commands, which give up after one deadline, stay quiet. */
  logConnectionErrors: boolean;
}
