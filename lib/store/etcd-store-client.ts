// The etcd connection of one store (validity records or tezos watermarks): the client with its
// deadline from --store-timeout-ms, ready() that waits for a linearizable read to succeed (a
// quorum is there), and the guard that turns every failure into STORE_UNAVAILABLE.
import type { StoreSettings } from '../config/store-options.js';
import { DaemonError } from '../errors.js';
import { connectEtcd, etcdRefusal, etcdUnavailable, type EtcdClient } from './etcd-connection.js';

export interface EtcdStoreClient {
  readonly client: EtcdClient;
  /** The key namespace, e.g. `signerd/`. */
  readonly prefix: string;
  /** True once a quorum answers; false after msMax (an outage); CONFIG_INVALID when etcd refused us for good (credentials, TLS). */
  ready(msMax: number): Promise<boolean>;
  guard<T>(what: string, fn: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Between attempts to reach a quorum while ready() waits. */
const READY_RETRY_MS = 200;

export function openEtcdStore(settings: Extract<StoreSettings, { kind: 'etcd' }>): EtcdStoreClient {
  const client = connectEtcd({ ...settings, requestTimeoutMs: settings.timeoutMs });
  return {
    client,
    prefix: settings.prefix,
    async ready(msMax) {
      const deadline = Date.now() + msMax;
      for (;;) {
        try {
          // A linearizable read goes through the leader: it succeeds only while a quorum is up.
          await client.range(Buffer.from(`${settings.prefix}ready`));
          return true;
        } catch (err) {
          const refusal = etcdRefusal(err);
          if (refusal !== null) throw new DaemonError('CONFIG_INVALID', `etcd refused the connection: ${refusal}`, { cause: err });
          if (Date.now() + READY_RETRY_MS >= deadline) return false;
          await new Promise((resolve) => setTimeout(resolve, READY_RETRY_MS));
        }
      }
    },
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
