// `signerd store init`: creates the store's schema ahead of the daemons (PostgreSQL: the signerd schema
// with the records and watermarks tables; SQLite: the validity database), or checks that a store
// with nothing to create (Redis, etcd) answers. Safe to run while daemons start (docs/stores.md).
import { Command } from '@commander-js/extra-typings';
import { openValidityStore } from '../store/open-validity-store.js';
import { runStoreAdmin, storeCommand } from './store-admin-command.js';

export function storeInitCommand() {
  const init = storeCommand(
    'init',
    "create the store's schema (postgres: tables in --postgres-schema; idempotent, safe beside starting daemons) and say what a commit survives",
    "JSON file of store options, e.g. a daemon's own config file",
  );
  init.action(() =>
    runStoreAdmin(
      init,
      {
        label: 'signerd store init',
        configIgnoresUnknown: true,
        open: (settings, log) => openValidityStore(settings, { durable: true, create: true, log, logConnectionErrors: false }),
      },
      async (store) => {
        process.stdout.write(`store ready; a revoke is reported once it is a ${store.describeDurability()}\n`);
        return 0;
      },
    ),
  );
  return new Command('store').description('the shared store: init').addCommand(init);
}
