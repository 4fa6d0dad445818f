// A PostgreSQL store reached without an authenticated server (sslmode disable or require) beyond
// loopback is allowed but warned about at every start; on loopback, or with verify-full, nothing is said.
import t from 'tap';
import { openPostgresStore } from '../../../lib/store/postgres-store-client.js';
import type { StoreOpenOptions } from '../../../lib/config/store-options.js';

function warnings(url: string, sslMode: 'disable' | 'require' | 'verify-full'): Promise<string[]> {
  const said: string[] = [];
  const log = {
    warn: (_fields: object, msg: string) => void said.push(msg),
    info: () => undefined,
    error: () => undefined,
  } as unknown as StoreOpenOptions['log'];
  // The pool connects lazily: nothing is dialled here.
  const store = openPostgresStore(
    { kind: 'postgres', url, sslMode, poolSize: 1, schema: 'signerd', requireSyncStandby: false, timeoutMs: 500 },
    { create: false, log, logConnectionErrors: false },
  );
  return store.close().then(() => said);
}

t.test('sslmode disable beyond loopback: warned', async (t) => {
  t.match(await warnings('postgres://signerd@10.0.0.7:5432/signerd', 'disable'), [/without TLS beyond loopback/]);
});

t.test('sslmode require beyond loopback: warned that the server is not authenticated', async (t) => {
  t.match(await warnings('postgres://signerd@db.internal:5432/signerd', 'require'), [/not authenticated/]);
});

t.test('loopback, or verify-full anywhere: nothing said', async (t) => {
  t.same(await warnings('postgres://signerd@127.0.0.1:5432/signerd', 'disable'), []);
  t.same(await warnings('postgres://signerd@[::1]:5432/signerd', 'disable'), []);
  t.same(await warnings('postgres://signerd@db.internal:5432/signerd', 'verify-full'), []);
});
