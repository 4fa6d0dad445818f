// The shared stores the benches compare with SQLite and Redis: a PostgreSQL primary (fsync on,
// synchronous_commit on, no standby) and a 3-member etcd cluster, each on loopback, when installed.
import { startEtcd } from '../test/helpers/etcd-cluster.js';
import { needPostgres, startPostgres } from '../test/helpers/postgres-server.js';
import { whichTool } from '../test/helpers/tools.js';

export interface SharedStore {
  name: string;
  /** Store options for a daemon. */
  args: string[];
}

export async function sharedStores(): Promise<{ stores: SharedStore[]; stop(): Promise<void> }> {
  const stores: SharedStore[] = [];
  const stops: Array<() => Promise<void>> = [];
  if (needPostgres().skip === undefined) {
    const pg = await startPostgres();
    stops.push(() => pg.stop());
    stores.push({ name: 'postgres, loopback', args: ['--store', 'postgres', '--postgres-url', pg.url(), '--postgres-sslmode', 'disable'] });
  }
  if (whichTool('etcd')) {
    const etcd = await startEtcd(3);
    stops.push(() => etcd.stop());
    stores.push({ name: 'etcd 3 members, loopback', args: ['--store', 'etcd', '--etcd-endpoints', etcd.endpoints.join(',')] });
  }
  return {
    stores,
    async stop() {
      for (const stop of stops) await stop();
    },
  };
}
