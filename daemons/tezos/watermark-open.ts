// Opens the watermark store the shared store options chose (--store sqlite|redis): one exhaustive switch.
import type { StoreOpenOptions, StoreSettings } from '../../lib/config/store-options.js';
import { connectStoreRedis } from '../../lib/store/redis-store-client.js';
import { durabilityGate } from '../../lib/store/redis-durability.js';
import type { WatermarkAdmin, WatermarkStore } from './watermark.js';
import { createRedisWatermarks } from './watermark-redis.js';
import { openSqliteWatermarks } from './watermark-sqlite.js';

/** Watermarks are always durable writes; `durable` in the options is for the validity store only. */
export function openWatermarks(settings: StoreSettings, opts: Omit<StoreOpenOptions, 'durable'>): WatermarkStore & WatermarkAdmin {
  switch (settings.kind) {
    case 'sqlite':
      return openSqliteWatermarks({ stateDir: settings.stateDir, busyTimeoutMs: settings.timeoutMs, create: opts.create });
    case 'redis': {
      const client = connectStoreRedis(settings, opts);
      return createRedisWatermarks(client, {
        prefix: settings.prefix,
        waitReplicas: settings.waitReplicas,
        waitTimeoutMs: Math.max(settings.timeoutMs, 1_000),
        durability: durabilityGate(client, settings, opts.log),
      });
    }
  }
}
