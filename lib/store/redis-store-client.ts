// The Redis client of one store (validity records or tezos watermarks), with the deadlines derived
// from --store-timeout-ms and reconnect errors logged where a daemon wants them.
import type { StoreOpenOptions, StoreSettings } from '../config/store-options.js';
import { connectRedis, type RedisClient } from './redis-connection.js';

export function connectStoreRedis(
  settings: Extract<StoreSettings, { kind: 'redis' }>,
  opts: Pick<StoreOpenOptions, 'log' | 'logConnectionErrors' | 'onConnectionChange'>,
): RedisClient {
  const onError = opts.logConnectionErrors ? (err: Error) => opts.log.warn({ err: err.message }, 'store connection error') : undefined;
  return connectRedis({
    ...settings,
    commandTimeoutMs: settings.timeoutMs,
    connectTimeoutMs: Math.max(settings.timeoutMs, 2_000),
    ...(onError ? { onError } : {}),
    ...(opts.onConnectionChange ? { onConnectionChange: opts.onConnectionChange } : {}),
  });
}
