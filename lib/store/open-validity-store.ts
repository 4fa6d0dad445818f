// The one exhaustive switch that opens the chosen validity store. A backend's code is loaded only
// when it is the one chosen: ioredis alone takes about 170 ms to load (pg, the etcd client less), which a daemon on SQLite
// (and every admin command run against it) should not pay.
import type { StoreOpenOptions, StoreSettings } from '../config/store-options.js';
import { openSqliteValidityStore } from './sqlite-validity-store.js';
import type { ValidityAdmin, ValidityStore } from './validity-store.js';

export async function openValidityStore(settings: StoreSettings, opts: StoreOpenOptions): Promise<ValidityStore & ValidityAdmin> {
  switch (settings.kind) {
    case 'sqlite':
      return openSqliteValidityStore({
        stateDir: settings.stateDir,
        busyTimeoutMs: settings.timeoutMs,
        synchronous: opts.durable ? 'FULL' : 'NORMAL',
        create: opts.create,
      });
    case 'redis': {
      const [{ connectStoreRedis }, { createRedisValidityStore }, { durabilityGate }] = await Promise.all([
        import('./redis-store-client.js'),
        import('./redis-validity-store.js'),
        import('./redis-durability.js'),
      ]);
      const client = connectStoreRedis(settings, opts);
      return createRedisValidityStore(client, {
        prefix: settings.prefix,
        waitReplicas: settings.waitReplicas,
        waitTimeoutMs: Math.max(settings.timeoutMs, 1_000),
        durability: durabilityGate(client, settings, opts.log),
      });
    }
    case 'postgres': {
      const [{ openPostgresStore }, { createPostgresValidityStore }] = await Promise.all([
        import('./postgres-store-client.js'),
        import('./postgres-validity-store.js'),
      ]);
      return createPostgresValidityStore(openPostgresStore(settings, opts));
    }
    case 'etcd': {
      const [{ openEtcdStore }, { createEtcdValidityStore }] = await Promise.all([import('./etcd-store-client.js'), import('./etcd-validity-store.js')]);
      return createEtcdValidityStore(openEtcdStore(settings));
    }
  }
}
