// Opens the watermark store the shared store options chose (--store sqlite|redis): one exhaustive switch.
import { connectStoreRedis, type StoreOpenOptions, type StoreSettings } from '../../../lib/config/store-options.js';
import { durabilityGate } from '../../../lib/store/redis-durability.js';
import type { WatermarkAdmin, WatermarkStore } from './watermark-store.js';
import { createRedisWatermarks } from './redis-watermark-store.js';
import { openSqliteWatermarks } from './sqlite-watermark-store.js';

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
