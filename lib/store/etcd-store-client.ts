// The etcd connection of one store (validity records or tezos watermarks): the client with its
// deadline from --store-timeout-ms, ready() that waits for a linearizable read to succeed (a
// quorum is there), and the guard that turns every failure into STORE_UNAVAILABLE.
import { randomBytes } from 'node:crypto';
import type { StoreSettings } from '../config/store-options.js';
import { DaemonError } from '../errors.js';
import { connectEtcd, etcdRefusal, etcdUnavailable, type EtcdClient } from './etcd-connection.js';
import { waitUntilReady } from './store-ready.js';

export interface EtcdStoreClient {
  readonly client: EtcdClient;
  /** The key namespace, e.g. `signerd/`. */
  readonly prefix: string;
  /** True once a quorum answers; false after msMax (an outage); CONFIG_INVALID when etcd refused us for good (credentials, TLS). */
  ready(msMax: number): Promise<boolean>;
  guard<T>(what: string, fn: () => Promise<T>): Promise<T>;
  /**
   * Readiness of a writer: a key under `<prefix>probe/` written, read back (linearizable) and
   * deleted, so a user that may only read, or a store that takes no writes, is not ready, and no
   * probe leaves a record behind (etcd has no expiry without leases; records are never purged).
   */
  probeWrite(probeId: string): Promise<void>;
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
    probeWrite: async (probeId) => {
      const key = Buffer.from(`${settings.prefix}probe/${probeId}`);
      const nonce = randomBytes(16);
      try {
        await client.put(key, nonce);
        const back = (await client.range(key)).kvs[0];
        if (!back?.value.equals(nonce)) throw new DaemonError('STORE_UNAVAILABLE', 'a key written to etcd did not read back');
        await client.delete(key);
      } catch (err) {
        throw etcdUnavailable('probe', err);
      }
    },
    close: async () => client.close(),
  };
}
