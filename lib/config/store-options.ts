// Command-line options that choose and reach the validity store, shared by the sign and verify
// daemons and the admin commands, and their typed settings. Opening a store is lib/store/open-validity-store.ts.
import { Command, Option, type CommandUnknownOpts, type OptionValues } from '@commander-js/extra-typings';
import { DaemonError } from '../errors.js';
import { DEFAULT_LIMITS } from '../limits.js';
import type { EtcdConnectionOptions } from '../store/etcd-connection.js';
import type { PostgresConnectionOptions } from '../store/postgres-connection.js';
import type { RedisConnectionOptions } from '../store/redis-connection.js';
import type { DurabilityLog } from '../store/redis-durability.js';
import { parseCount, parseMilliseconds } from './numbers.js';
import { required } from './daemon-options.js';

export type StoreSettings =
  | { kind: 'sqlite'; stateDir: string; timeoutMs: number }
  | ({ kind: 'redis'; prefix: string; waitReplicas: number; allowVolatile: boolean; timeoutMs: number } & RedisAddress)
  | ({ kind: 'postgres'; schema: string; requireSyncStandby: boolean; timeoutMs: number } & PostgresAddress)
  | ({ kind: 'etcd'; prefix: string; timeoutMs: number } & EtcdAddress);

/** Where Redis is and how to authenticate; the deadlines are derived from --store-timeout-ms. */
type RedisAddress = Omit<RedisConnectionOptions, 'commandTimeoutMs' | 'connectTimeoutMs' | 'onError'>;

/** Where Postgres is, how to authenticate and the pool size; the deadlines are derived from --store-timeout-ms. */
type PostgresAddress = Omit<PostgresConnectionOptions, 'statementTimeoutMs' | 'connectTimeoutMs' | 'onError'>;

/** Where the etcd members are and how to authenticate; the deadline is --store-timeout-ms. */
type EtcdAddress = Omit<EtcdConnectionOptions, 'requestTimeoutMs'>;

/** libpq's sslmode values pg can honour ('prefer' and 'allow' would silently fall back to plaintext). */
const POSTGRES_SSL_MODES = ['disable', 'require', 'verify-ca', 'verify-full'] as const satisfies ReadonlyArray<PostgresConnectionOptions['sslMode']>;

/** The schema name is put into SQL text, so it is held to a plain lowercase identifier. */
function checkSchemaName(name: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new DaemonError('CONFIG_INVALID', `--postgres-schema "${name}": expected a lowercase SQL identifier`);
  return name;
}

const list = (value: string): string[] =>
  value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

export function addStoreOptions<Args extends unknown[], Opts extends OptionValues>(cmd: Command<Args, Opts>) {
  return cmd
    .addOption(
      new Option('--store <kind>', 'store: embedded SQLite, Redis (standalone, Sentinel or Cluster), PostgreSQL or etcd (docs/stores.md)')
        .choices(['sqlite', 'redis', 'postgres', 'etcd'] as const)
        .default('sqlite' as const),
    )
    .option(
      '--state-dir <dir>',
      'sqlite: directory of the embedded database (shared by sign and verify daemons); default $STATE_DIRECTORY (systemd StateDirectory=), else /var/lib/signerd',
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
    .option('--postgres-url <url>', 'postgres: postgres://user@host:port/database (no password, no parameters here)')
    .option('--postgres-password-file <file>', 'postgres: file holding the password (mode 0600; e.g. a systemd credential)')
    .addOption(
      new Option('--postgres-sslmode <mode>', 'postgres: TLS as libpq means it (disable only on loopback or a private link)')
        .choices(POSTGRES_SSL_MODES)
        .default('verify-full' as const),
    )
    .option('--postgres-tls-ca <file>', 'postgres: CA certificate that signed the server certificate')
    .option('--postgres-tls-cert <file>', 'postgres: client certificate (with --postgres-tls-key)')
    .option('--postgres-tls-key <file>', 'postgres: client private key (mode 0600)')
    .option('--postgres-schema <name>', 'postgres: schema holding the signerd tables', 'signerd')
    .option('--postgres-pool-size <n>', 'postgres: connections per process', parseCount('--postgres-pool-size', 1), 8)
    .option(
      '--require-sync-standby',
      'postgres: refuse to start unless commits wait for a synchronous standby (synchronous_standby_names set, synchronous_commit on/remote_*)',
    )
    .option('--etcd-endpoints <list>', 'etcd: comma-separated member host:port list (https://host:port, or any --etcd-tls-* option, for TLS)', list)
    .option('--etcd-prefix <prefix>', 'etcd: key namespace; records are <prefix>sig/<hex>', 'signerd/')
    .option('--etcd-user <name>', 'etcd: user (with --etcd-password-file)')
    .option('--etcd-password-file <file>', 'etcd: file holding the password (mode 0600)')
    .option('--etcd-tls-ca <file>', 'etcd: CA certificate of the members')
    .option('--etcd-tls-cert <file>', 'etcd: client certificate (with --etcd-tls-key)')
    .option('--etcd-tls-key <file>', 'etcd: client private key (mode 0600)')
    .option('--store-timeout-ms <ms>', 'deadline of one store command', parseMilliseconds('--store-timeout-ms', 1), DEFAULT_LIMITS.storeCommandMsMax);
}

/** The stores whose options carry their name as a prefix (--redis-url, --postgres-url, --etcd-endpoints). */
const STORE_OPTION_PREFIXES = ['redis', 'postgres', 'etcd'] as const;

/**
 * Options of a store other than the one in use, given on the command line or in the config file, are
 * refused rather than ignored: `--redis-url` without `--store redis` would run the daemon on its own
 * SQLite file (the default), and revocations made in the shared store would not reach it.
 */
export function checkStoreOptionsApply(cmd: CommandUnknownOpts): void {
  const store: unknown = cmd.getOptionValue('store');
  if (typeof store !== 'string') return;
  for (const option of cmd.options) {
    const name = option.attributeName();
    const source = cmd.getOptionValueSource(name);
    if (source !== 'cli' && source !== 'config') continue;
    const family = STORE_OPTION_PREFIXES.find((prefix) => name.startsWith(prefix) && /[A-Z]/.test(name.charAt(prefix.length)));
    if (family === undefined || family === store) continue;
    const given = cmd.getOptionValueSource('store') === 'default' ? `${store} (the default)` : store;
    throw new DaemonError(
      'CONFIG_INVALID',
      `${option.long ?? name} applies to --store ${family}, but the store is ${given}: give --store ${family}, or drop ${option.long ?? name}`,
    );
  }
}

/** The option values addStoreOptions declares. */
export type StoreOptionValues = ReturnType<ReturnType<typeof addStoreOptions<[], Record<never, never>>>['opts']>;

export function storeSettings(opts: StoreOptionValues): StoreSettings {
  const timeoutMs = opts.storeTimeoutMs;
  if (opts.store === 'sqlite') return { kind: 'sqlite', stateDir: opts.stateDir, timeoutMs };
  if (opts.requireSyncStandby && opts.store !== 'postgres') throw new DaemonError('CONFIG_INVALID', '--require-sync-standby applies to --store postgres only');
  if (opts.store === 'etcd') {
    return {
      kind: 'etcd',
      endpoints: required(opts.etcdEndpoints, '--etcd-endpoints'),
      prefix: opts.etcdPrefix,
      user: opts.etcdUser,
      passwordFile: opts.etcdPasswordFile,
      tlsCaFile: opts.etcdTlsCa,
      tlsCertFile: opts.etcdTlsCert,
      tlsKeyFile: opts.etcdTlsKey,
      timeoutMs,
    };
  }
  if (opts.store === 'postgres') {
    return {
      kind: 'postgres',
      url: required(opts.postgresUrl, '--postgres-url'),
      passwordFile: opts.postgresPasswordFile,
      sslMode: opts.postgresSslmode,
      tlsCaFile: opts.postgresTlsCa,
      tlsCertFile: opts.postgresTlsCert,
      tlsKeyFile: opts.postgresTlsKey,
      poolSize: opts.postgresPoolSize,
      schema: checkSchemaName(opts.postgresSchema),
      requireSyncStandby: opts.requireSyncStandby === true,
      timeoutMs,
    };
  }
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
  /** Called when a store connection closes or is ready again (Redis) or an idle one fails (PostgreSQL), so readiness probes at once (daemons). */
  onConnectionChange?: (() => void) | undefined;
}
