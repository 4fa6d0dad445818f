// Opens the watermark store the shared store options chose (--store sqlite|redis): one exhaustive switch.
import type { StoreSettings } from '../../lib/config/store-options.js';
import { connectRedis } from '../../lib/store/redis-connection.js';
import type { WatermarkAdmin, WatermarkStore } from './watermark.js';
import { createRedisWatermarks } from './watermark-redis.js';
import { openSqliteWatermarks } from './watermark-sqlite.js';

export function openWatermarks(settings: StoreSettings, onError?: (err: Error) => void): WatermarkStore & WatermarkAdmin {
  switch (settings.kind) {
    case 'sqlite':
      return openSqliteWatermarks({ stateDir: settings.stateDir, busyTimeoutMs: settings.timeoutMs });
    case 'redis': {
      const client = connectRedis({ ...settings, commandTimeoutMs: settings.timeoutMs, connectTimeoutMs: Math.max(settings.timeoutMs, 2_000), ...(onError ? { onError } : {}) });
      return createRedisWatermarks(client, { prefix: settings.prefix, waitReplicas: settings.waitReplicas, waitTimeoutMs: Math.max(settings.timeoutMs, 1_000) });
    }
  }
}
