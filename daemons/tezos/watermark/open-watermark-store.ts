// Opens the watermark backend the store options chose: one exhaustive switch (a new backend is a file
// in this folder and a case here), and the serving daemon's stack on it: under Redis the host floor
// (on unless --no-redis-local-floor), and over every backend the in-process floor. A backend's code is
// loaded only when chosen: ioredis and pg cost a few hundred ms of start-up a SQLite host should not pay.
import type { Logger } from 'pino';
import { DaemonError } from '../../../lib/errors.js';
import type { StoreOpenOptions, StoreSettings } from '../../../lib/config/store-options.js';
import { withHostFloor } from './host-floor.js';
import { withMemoryFloor } from './memory-floor.js';
import fs from 'node:fs';
import path from 'node:path';
import { openSqliteWatermarkStore, WATERMARK_SQLITE_FILE } from './sqlite-watermark-store.js';
import type { WatermarkBackend, WatermarkStore } from './watermark-store.js';

/** Watermarks are always durable writes; `durable` in the options is for the validity store only. */
export async function openWatermarkBackend(settings: StoreSettings, opts: Omit<StoreOpenOptions, 'durable'>): Promise<WatermarkBackend> {
  // No default: a store kind without a case here is a compile error (the function would not return).
  switch (settings.kind) {
    case 'sqlite':
      return openSqliteWatermarkStore({ stateDir: settings.stateDir, busyTimeoutMs: settings.timeoutMs, create: opts.create });
    case 'redis': {
      const [{ connectStoreRedis }, { durabilityGate }, { createRedisWatermarkStore }] = await Promise.all([
        import('../../../lib/store/redis-store-client.js'),
        import('../../../lib/store/redis-durability.js'),
        import('./redis-watermark-store.js'),
      ]);
      const client = connectStoreRedis(settings, opts);
      return createRedisWatermarkStore(client, {
        prefix: settings.prefix,
        waitReplicas: settings.waitReplicas,
        waitTimeoutMs: Math.max(settings.timeoutMs, 1_000),
        durability: durabilityGate(client, settings, opts.log),
      });
    }
    case 'postgres': {
      const [{ openPostgresStore }, { createPostgresWatermarkStore }] = await Promise.all([
        import('../../../lib/store/postgres-store-client.js'),
        import('./postgres-watermark-store.js'),
      ]);
      return createPostgresWatermarkStore(openPostgresStore(settings, opts));
    }
    case 'etcd': {
      const [{ openEtcdStore }, { createEtcdWatermarkStore }] = await Promise.all([
        import('../../../lib/store/etcd-store-client.js'),
        import('./etcd-watermark-store.js'),
      ]);
      return createEtcdWatermarkStore(openEtcdStore(settings));
    }
  }
}

/**
 * The marks of the serving daemon; `hostFloorDir` is the state directory of the host floor (Redis only), null for none;
 * `onConnectionChange` hears the store's connection close or come back (readiness probes at once). `timed`
 * wraps the store itself, inside the floors: a refusal the memory floor makes is not a store operation.
 */
export async function openDaemonWatermarks(
  settings: StoreSettings,
  hostFloorDir: string | null,
  initWatermarks: boolean,
  log: Logger,
  timed: (store: WatermarkBackend) => WatermarkBackend,
  onConnectionChange?: () => void,
): Promise<WatermarkStore> {
  const open = { create: true, log, logConnectionErrors: true, onConnectionChange };
  if (settings.kind === 'sqlite') {
    const file = path.join(settings.stateDir, WATERMARK_SQLITE_FILE);
    const isNew = !fs.existsSync(file);
    // A new store knows of no earlier signature: right on a first start, a double-signing hazard
    // after a mistyped --state-dir or a moved state directory. So it is made only when asked for,
    // and said loudly, once, when it is.
    if (isNew && !initWatermarks) {
      throw new DaemonError(
        'CONFIG_INVALID',
        `no watermark store at ${file}: started there, this signer would have no record of what its keys signed. Check --state-dir; on a first start pass --init-watermarks (or run tezos watermark init, or import the marks of the host the keys come from)`,
      );
    }
    const store = withMemoryFloor(timed(await openWatermarkBackend(settings, open)));
    if (isNew) {
      log.warn(
        { file },
        'created a new, empty watermark store: this host has no record of earlier signatures. If these keys signed before, stop now and import their marks (tezos watermark import) or raise them (tezos watermark set)',
      );
    }
    return store;
  }
  if (settings.kind !== 'redis') return withMemoryFloor(timed(await openWatermarkBackend(settings, open)));
  // Opened first: a state directory that cannot hold the floor stops start-up before Redis is reached.
  const local = hostFloorDir === null ? null : openSqliteWatermarkStore({ stateDir: hostFloorDir, busyTimeoutMs: settings.timeoutMs, create: true });
  let shared: WatermarkBackend;
  try {
    shared = timed(await openWatermarkBackend(settings, open));
  } catch (err) {
    local?.close().catch(() => undefined);
    throw err;
  }
  if (local === null) {
    log.warn(
      { redisLocalFloor: false },
      '--no-redis-local-floor: marks live in Redis alone; if Redis loses them (restart without persistence, failover to a lagging replica) this host can sign a slot twice after a restart',
    );
    return withMemoryFloor(shared);
  }
  return withMemoryFloor(withHostFloor(shared, local));
}
