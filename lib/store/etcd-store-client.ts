// The etcd connection of one store (validity records or tezos watermarks): the client with its
// deadline from --store-timeout-ms, ready() that waits for a linearizable read to succeed (a
// quorum is there), and the guard that turns every failure into STORE_UNAVAILABLE.
import type { StoreSettings } from '../config/store-options.js';
import { connectEtcd, etcdRefusal, etcdUnavailable, type EtcdClient } from './etcd-connection.js';
import { waitUntilReady } from './store-ready.js';

export interface EtcdStoreClient {
  readonly client: EtcdClient;
  /** The key namespace, e.g. `signerd/`. */
  readonly prefix: string;
  /** True once a quorum answers; false after msMax (an outage); CONFIG_INVALID when etcd refused us for good (credentials, TLS). */
  ready(msMax: number): Promise<boolean>;
  guard<T>(what: string, fn: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export function openEtcdStore(settings: Extract<StoreSettings, { kind: 'etcd' }>): EtcdStoreClient {
  const client = connectEtcd({ ...settings, requestTimeoutMs: settings.timeoutMs });
  return {
    client,
    prefix: settings.prefix,
    // A linearizable read goes through the leader: it succeeds only while a quorum is up.
    ready: (msMax) => waitUntilReady('etcd', msMax, () => client.range(Buffer.from(`${settings.prefix}ready`)), etcdRefusal),
    async guard(what, fn) {
      try {
        return await fn();
      } catch (err) {
        throw etcdUnavailable(what, err);
      }
    },
    close: async () => client.close(),
  };
}
