// One place that turns store options into an ioredis client (standalone, TLS, Sentinel, Cluster)
// with every safety-relevant option set explicitly: an outage must give a prompt error, never a
// queued or hung command, and reconnection must happen by itself.
import fs from 'node:fs';
import { Redis, Cluster, type RedisOptions, type ClusterOptions } from 'ioredis';
import { DaemonError } from '../errors.js';
import { readSecretFile } from '../keys/key-file.js';

export interface RedisConnectionOptions {
  /** redis://host:port/db or rediss://… for TLS. Must not carry a password: use passwordFile. */
  url?: string;
  /** host:port list; with sentinelName selects Sentinel mode. */
  sentinels?: string[];
  sentinelName?: string;
  /** host:port list; selects Cluster mode. */
  clusterNodes?: string[];
  passwordFile?: string;
  tlsCaFile?: string;
  commandTimeoutMs: number;
  connectTimeoutMs: number;
  /** Connection errors arrive here (reconnects are automatic); without a listener ioredis prints to stderr. */
  onError?: (err: Error) => void;
  /** The connection closed, or is ready again (after its ready check): readiness need not wait for its next probe. */
  onConnectionChange?: () => void;
}

export type RedisClient = Redis | Cluster;

/**
 * Reconnect forever with a capped backoff: service resumes by itself when Redis returns, within half
 * a second (readiness promises 200 again within 2 s). One connection attempt per 500 ms costs nothing.
 */
const retryStrategy = (times: number): number => Math.min(50 * 2 ** Math.min(times, 6), 500);

export function connectRedis(opts: RedisConnectionOptions): RedisClient {
  const client = createClient(opts);
  client.on('error', opts.onError ?? (() => {}));
  if (opts.onConnectionChange) {
    client.on('close', opts.onConnectionChange);
    client.on('ready', opts.onConnectionChange);
  }
  return client;
}

function createClient(opts: RedisConnectionOptions): RedisClient {
  const password = opts.passwordFile ? readSecretFile(opts.passwordFile, 'redis password file').toString('utf8').trim() : undefined;
  const tlsCa = opts.tlsCaFile ? fs.readFileSync(opts.tlsCaFile) : undefined;
  const base: RedisOptions = {
    // Fail fast while disconnected instead of queueing commands until Redis returns.
    enableOfflineQueue: false,
    // A command in flight when the connection drops fails at once; we never replay writes blindly.
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: opts.commandTimeoutMs,
    connectTimeout: opts.connectTimeoutMs,
    retryStrategy,
    enableReadyCheck: true,
    lazyConnect: false,
    ...(password !== undefined ? { password } : {}),
  };
  if (opts.clusterNodes && opts.clusterNodes.length > 0) {
    const clusterOptions: ClusterOptions = {
      enableOfflineQueue: false,
      // Verify must read from the primary: a replica may still hold a revoked record.
      scaleReads: 'master',
      maxRedirections: 16,
      clusterRetryStrategy: retryStrategy,
      redisOptions: { ...base, ...(tlsCa || (opts.url !== undefined && parseRedisUrl(opts.url).tls) ? { tls: { ca: tlsCa } } : {}) },
    };
    return new Cluster(opts.clusterNodes.map(parseHostPort), clusterOptions);
  }
  if (opts.sentinels && opts.sentinels.length > 0) {
    if (!opts.sentinelName) throw new DaemonError('CONFIG_INVALID', 'redis sentinel mode needs a master name (--redis-sentinel-name)');
    return new Redis({
      ...base,
      sentinels: opts.sentinels.map(parseHostPort),
      name: opts.sentinelName,
      role: 'master',
      sentinelRetryStrategy: retryStrategy,
      ...(password !== undefined ? { sentinelPassword: password } : {}),
      ...(tlsCa ? { tls: { ca: tlsCa }, enableTLSForSentinelMode: true } : {}),
    });
  }
  // ioredis is given the parts, never the URL string: its own parser (Node's legacy url.parse) reads
  // some strings differently from ours, and took a password from one ours had passed.
  const { tls, host, port, db } = parseRedisUrl(opts.url ?? 'redis://127.0.0.1:6379');
  return new Redis({ ...base, host, port, db, ...(tls || tlsCa ? { tls: { ca: tlsCa } } : {}) });
}

/**
 * A redis URL as signerd takes it: redis:// or rediss:// (any case), a host, a port and a database,
 * nothing else. ioredis would also take a password (in the user part or as ?password=), a URL without
 * a scheme, `redis:\\…` or `redis:/…` (read by its parser as a login or a socket path), and any client
 * option as a query parameter; a password there shows in argv, and an option could undo the safety
 * options set above. The URL is never echoed: it may hold the very secret refused.
 */
export function parseRedisUrl(url: string): { tls: boolean; host: string; port: number; db: number } {
  const m = /^(rediss?):\/\/(\[[0-9a-f:.]+\]|[a-z0-9._-]+)(?::(\d{1,5}))?(?:\/(\d{0,5}))?$/i.exec(url);
  if (!m) {
    // What is wrong is said without repeating the URL.
    const why = /^rediss?:\/\//i.test(url)
      ? /[@?]/.test(url)
        ? 'must not carry a user, a password or options (a password would show in argv and logs); use --redis-password-file and the --redis-* options'
        : 'must be redis://host:port/db (a host name or address, a port, a database number; nothing else)'
      : 'must start redis:// or rediss://';
    throw new DaemonError('CONFIG_INVALID', `the redis URL ${why}`);
  }
  const port = m[3] === undefined ? 6379 : Number(m[3]);
  if (port < 1 || port > 65535) throw new DaemonError('CONFIG_INVALID', 'the redis URL names a port outside 1-65535');
  return { tls: m[1]!.toLowerCase() === 'rediss', host: m[2]!.replace(/^\[|\]$/g, ''), port, db: m[4] ? Number(m[4]) : 0 };
}

function parseHostPort(entry: string): { host: string; port: number } {
  // `user:password@host:port` would put a password in argv; it is refused, and never echoed.
  if (entry.includes('@')) throw new DaemonError('CONFIG_INVALID', 'a redis node is host:port only (no user or password); use --redis-password-file');
  const match = /^(.+):(\d+)$/.exec(entry.trim());
  if (!match) throw new DaemonError('CONFIG_INVALID', `redis node "${entry}": expected host:port`);
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port: Number(match[2]) };
}

/** Any Redis failure becomes STORE_UNAVAILABLE with a short, secret-free reason. */
export function storeUnavailable(what: string, err: unknown): DaemonError {
  const message = (err as Error)?.message?.split('\n')[0] ?? 'error';
  // ioredis's words for "no connection" (the offline queue is off, on purpose) name its internals.
  const reason = /Stream isn't writeable|Connection is closed/.test(message) ? 'not connected' : message.slice(0, 120);
  return new DaemonError('STORE_UNAVAILABLE', `redis ${what} failed (${reason})`, { cause: err });
}

/** Resolves true once the client is ready, or false after msMax: callers decide whether to serve anyway. */
export function waitForReady(client: RedisClient, msMax: number): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      client.off('ready', onReady);
      resolve(ok);
    };
    const onReady = (): void => done(true);
    const timer = setTimeout(() => done(false), msMax);
    client.once('ready', onReady);
  });
}
