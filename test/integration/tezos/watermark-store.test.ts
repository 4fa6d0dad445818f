// Every watermark backend against the real thing (a SQLite file, a real redis-server, a real
// PostgreSQL, a real 3-member etcd): the same rule table, signature recording, raise-only admin writes, and fail-closed on an outage.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { connectRedis } from '../../../lib/store/redis-connection.js';
import { durabilityGate } from '../../../lib/store/redis-durability.js';
import { startRedis } from '../../helpers/redis-server.js';
import { needPostgres, startPostgres } from '../../helpers/postgres-server.js';
import { openPostgresStore } from '../../../lib/store/postgres-store-client.js';
import { createPostgresWatermarkStore } from '../../../daemons/tezos/watermark/postgres-watermark-store.js';
import { startEtcd } from '../../helpers/etcd-cluster.js';
import { openEtcdStore } from '../../../lib/store/etcd-store-client.js';
import { createEtcdWatermarkStore } from '../../../daemons/tezos/watermark/etcd-watermark-store.js';
import { needTools } from '../../helpers/tools.js';
import type { Slot, WatermarkBackend } from '../../../daemons/tezos/watermark/watermark-store.js';
import { createRedisWatermarkStore } from '../../../daemons/tezos/watermark/redis-watermark-store.js';
import { openSqliteWatermarkStore } from '../../../daemons/tezos/watermark/sqlite-watermark-store.js';
import { retryUntil } from '../../helpers/polling.js';

type Store = WatermarkBackend;
const slot: Slot = { chainId: 'NetXdQprcVkpaWU', pkh: 'tz1b9kV41KV9N3sp69ycLdSoZ2Ak8jXwtNPv', kind: 'attestation' };
const D1 = '11'.repeat(32);
const D2 = '22'.repeat(32);
/** The persistence check's warnings; none are expected on the test redis (AOF, appendfsync always). */
const warnings: string[] = [];
const log = { warn: (_fields: Record<string, unknown>, msg: string): void => void warnings.push(msg) };

async function ruleTable(t: Test, store: Store): Promise<void> {
  t.same(await store.read(slot), null, 'no mark yet');
  t.same(await store.reserve(slot, { level: 10, round: 1, digest: D1 }), { kind: 'reserved' }, 'first mark reserved');
  t.same(await store.reserve(slot, { level: 10, round: 1, digest: D1 }), { kind: 'same', signature: null }, 'same bytes before the signature is recorded');
  await store.recordSignature(slot, { level: 10, round: 1, digest: D1 }, 'sigA');
  await store.recordSignature(slot, { level: 10, round: 1, digest: D1 }, 'sigB');
  t.same(
    await store.reserve(slot, { level: 10, round: 1, digest: D1 }),
    { kind: 'same', signature: 'sigA' },
    'same bytes return the first recorded signature only',
  );
  const rejectedSame = await store.reserve(slot, { level: 10, round: 1, digest: D2 });
  t.equal(rejectedSame.kind, 'rejected', 'same slot, other bytes: rejected');
  t.equal((await store.reserve(slot, { level: 10, round: 0, digest: D2 })).kind, 'rejected', 'lower round: rejected');
  t.equal((await store.reserve(slot, { level: 9, round: 5, digest: D2 })).kind, 'rejected', 'lower level: rejected');
  t.same(await store.reserve(slot, { level: 10, round: 2, digest: D2 }), { kind: 'reserved' }, 'higher round: reserved');
  t.same(await store.reserve(slot, { level: 11, round: 0, digest: D1 }), { kind: 'reserved' }, 'higher level, round 0: reserved');
  await store.recordSignature(slot, { level: 10, round: 2, digest: D2 }, 'stale');
  t.same((await store.read(slot))?.signature, null, 'a stale record does not attach to the newer mark');
  const other: Slot = { ...slot, kind: 'preattestation' };
  t.same(await store.reserve(other, { level: 5, round: 0, digest: D1 }), { kind: 'reserved' }, 'kinds have separate marks');

  // An equal (level, round) is not a raise: the stored digest and signature stay, for identical retries.
  t.equal(await store.put({ ...slot, level: 11, round: 0, digest: D2, signature: null }, false), false, 'admin put at an equal mark writes nothing');
  await store.recordSignature(slot, { level: 11, round: 0, digest: D1 }, 'sig11');
  t.equal(await store.put({ ...slot, level: 11, round: 0, digest: '', signature: null }, false), false, 'nor after its signature is recorded');
  t.same(await store.reserve(slot, { level: 11, round: 0, digest: D1 }), { kind: 'same', signature: 'sig11' }, 'the identical retry still gets its signature');
  t.equal(await store.put({ ...slot, level: 3, round: 0, digest: '', signature: null }, false), false, 'admin put does not lower without force');
  t.equal(await store.put({ ...slot, level: 20, round: 0, digest: '', signature: null }, false), true, 'admin put raises');
  t.equal((await store.reserve(slot, { level: 20, round: 0, digest: D1 })).kind, 'rejected', 'a set mark without digest rejects its own level');
  t.equal(await store.put({ ...slot, level: 3, round: 0, digest: '', signature: null }, true), true, 'force lowers');
  // Concurrent reserves on one handle (SQLite batches them into one transaction): one winner.
  const burst = await Promise.all(Array.from({ length: 20 }, (_, i) => store.reserve(other, { level: 6, round: 0, digest: (i % 4).toString(16).repeat(64) })));
  t.equal(burst.filter((o) => o.kind === 'reserved').length, 1, 'a burst for one slot reserves exactly once');
  t.equal(burst.filter((o) => o.kind === 'same').length, 4, 'the winner\'s identical copies see "same"');
  await store.put({ ...other, level: 5, round: 0, digest: D1, signature: null }, true);
  const listed = await store.list();
  t.same(listed.map((e) => `${e.kind}:${e.level}/${e.round}`).sort(), ['attestation:3/0', 'preattestation:5/0'], 'list shows every slot');
}

t.test('sqlite watermark store', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signerd-tezos-wm-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const store = openSqliteWatermarkStore({ stateDir: dir, busyTimeoutMs: 1_000, create: true });
  t.teardown(() => store.close());
  await ruleTable(t, store);
  // A second handle on the same file (as a second daemon process would have) sees the marks.
  const second = openSqliteWatermarkStore({ stateDir: dir, busyTimeoutMs: 1_000, create: true });
  t.teardown(() => second.close());
  t.equal((await second.reserve(slot, { level: 3, round: 0, digest: D1 })).kind, 'rejected', 'the other handle sees the committed mark');
});

t.test('redis watermark store', needTools('redis-server', 'redis-cli'), async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  // Every write waits for Redis's fsync (appendfsync always), which a loaded machine's disk can
  // stretch past a short deadline; the outage below is seen on the dropped connection, not by it.
  const client = connectRedis({ url: redis.url, commandTimeoutMs: 5_000, connectTimeoutMs: 2_000 });
  const store = createRedisWatermarkStore(client, {
    prefix: 'test:',
    waitReplicas: 0,
    waitTimeoutMs: 500,
    durability: durabilityGate(client, { waitReplicas: 0, allowVolatile: false }, log),
  });
  t.teardown(() => store.close());
  t.ok(await store.ready(5_000), 'connected');
  await ruleTable(t, store);
  t.match(await redis.cli('HGET', `test:tezos:wm:{${slot.chainId}:${slot.pkh}}:attestation`, 'l'), '3', 'plain hash per slot, readable with redis-cli');

  await redis.stop();
  await t.rejects(store.reserve(slot, { level: 30, round: 0, digest: D1 }), { code: 'STORE_UNAVAILABLE' }, 'outage: reserve fails closed');
  await redis.start();
  t.ok(await store.ready(10_000), 'reconnects by itself');
  t.same(warnings, [], 'the test redis passes the persistence check without a warning');
  t.same(await store.reserve(slot, { level: 30, round: 0, digest: D1 }), { kind: 'reserved' }, 'serves again after the restart');
});

t.test('redis WAIT for replicas fails closed without replicas', needTools('redis-server'), async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const client = connectRedis({ url: redis.url, commandTimeoutMs: 1_000, connectTimeoutMs: 2_000 });
  const store = createRedisWatermarkStore(client, {
    prefix: 'w:',
    waitReplicas: 1,
    waitTimeoutMs: 100,
    durability: durabilityGate(client, { waitReplicas: 1, allowVolatile: false }, log),
  });
  t.teardown(() => store.close());
  t.ok(await store.ready(5_000));
  await t.rejects(store.reserve(slot, { level: 1, round: 0, digest: D1 }), { code: 'STORE_UNAVAILABLE' }, 'no replica acknowledged: no signature may follow');
  t.equal((await store.reserve(slot, { level: 1, round: 0, digest: D1 })).kind, 'same', 'the mark stays reserved (that slot is given up, the safe direction)');
});

t.test('postgres watermark store', needPostgres(), async (t) => {
  const server = await startPostgres();
  t.teardown(() => server.stop());
  const settings = {
    kind: 'postgres' as const,
    url: server.url(),
    sslMode: 'disable' as const,
    poolSize: 4,
    schema: 'wm_test',
    requireSyncStandby: false,
    timeoutMs: 1_000,
  };
  const lookup = openPostgresStore(settings, { create: false, log, logConnectionErrors: false });
  await t.rejects(lookup.ready(5_000), { code: 'CONFIG_INVALID' }, 'a lookup does not create a missing schema');
  await lookup.close();
  // Hosts starting together on an empty database: the schema is created once, nobody fails.
  const starters = Array.from({ length: 4 }, () => openPostgresStore(settings, { create: true, log, logConnectionErrors: false }));
  t.same(await Promise.all(starters.map((s) => s.ready(10_000))), [true, true, true, true], 'concurrent starts create the schema safely');
  await Promise.all(starters.map((s) => s.close()));
  const store = createPostgresWatermarkStore(openPostgresStore(settings, { create: true, log, logConnectionErrors: false }));
  t.teardown(() => store.close());
  t.ok(await store.ready(5_000), 'connected');
  await ruleTable(t, store);
  const rows = await server.sql('SELECT level, round FROM wm_test.watermarks WHERE kind = $$attestation$$');
  t.same(rows.rows, [{ level: '3', round: '0' }], 'one plain row per slot, readable with psql');

  // A second pool (as a second host would have) racing the first on one slot: exactly one wins.
  const second = createPostgresWatermarkStore(openPostgresStore(settings, { create: true, log, logConnectionErrors: false }));
  t.teardown(() => second.close());
  const race = await Promise.all(
    Array.from({ length: 40 }, (_, i) => (i % 2 ? store : second).reserve(slot, { level: 50, round: 0, digest: (i % 5).toString(16).repeat(64) })),
  );
  t.equal(race.filter((o) => o.kind === 'reserved').length, 1, 'two pools, one slot: one reserve');

  await server.primary.stop();
  await t.rejects(store.reserve(slot, { level: 60, round: 0, digest: D1 }), { code: 'STORE_UNAVAILABLE' }, 'outage: reserve fails closed');
  await server.primary.start();
  const outcome = await retryUntil(
    () => store.reserve(slot, { level: 60, round: 0, digest: D1 }).catch(() => null),
    (o) => o !== null,
    5_000,
    100,
  );
  t.same(outcome, { kind: 'reserved' }, 'serves again after the restart, by itself');
});

t.test('etcd watermark store', needTools('etcd'), async (t) => {
  const etcd = await startEtcd(3);
  t.teardown(() => etcd.stop());
  const settings = { kind: 'etcd' as const, endpoints: etcd.endpoints, prefix: 'wm-test/', timeoutMs: 1_000 };
  const store = createEtcdWatermarkStore(openEtcdStore(settings));
  t.teardown(() => store.close());
  t.ok(await store.ready(5_000), 'connected');
  await ruleTable(t, store);

  // A second client (a second host) racing the first on one slot: exactly one Txn wins.
  const second = createEtcdWatermarkStore(openEtcdStore({ ...settings, endpoints: [...etcd.endpoints].reverse() }));
  t.teardown(() => second.close());
  const race = await Promise.all(
    Array.from({ length: 40 }, (_, i) => (i % 2 ? store : second).reserve(slot, { level: 50, round: 0, digest: (i % 5).toString(16).repeat(64) })),
  );
  t.equal(race.filter((o) => o.kind === 'reserved').length, 1, 'two clients, one slot: one reserve');
  t.equal((await second.read(slot))?.level, 50, 'the other client reads the committed mark');

  // The signature lives under its own key beside the mark: another host reads both as one mark, and
  // lists it once; a record superseded before it is written (the next level came first) is dropped.
  t.same(await store.reserve(slot, { level: 60, round: 0, digest: D1 }), { kind: 'reserved' });
  await store.recordSignature(slot, { level: 60, round: 0, digest: D1 }, 'sig60');
  t.equal((await second.read(slot))?.signature, 'sig60', 'the other host reads the mark with its signature');
  const listed = (await second.list()).filter((e) => e.kind === slot.kind && e.chainId === slot.chainId);
  t.same(
    listed.map((e) => [e.level, e.signature]),
    [[60, 'sig60']],
    'listed once, with its signature',
  );
  t.same(await store.reserve(slot, { level: 61, round: 0, digest: D1 }), { kind: 'reserved' });
  const superseded = store.recordSignature(slot, { level: 61, round: 0, digest: D1 }, 'sig61');
  t.same(await store.reserve(slot, { level: 62, round: 0, digest: D1 }), { kind: 'reserved' }, 'the next level reserved before the record is written');
  await superseded;
  t.same(await second.read(slot), { level: 62, round: 0, digest: D1, signature: null }, 'the superseded record was not written onto the newer mark');

  // The leader killed: requests may fail (never succeed twice), then resume on the new leader.
  await etcd.members[await etcd.leader()]!.kill('SIGKILL');
  const outcome = await retryUntil(
    () =>
      store.reserve(slot, { level: 60, round: 0, digest: D1 }).catch((err: { code?: string }) => {
        t.equal(err.code, 'STORE_UNAVAILABLE');
        return null;
      }),
    (o) => o !== null,
    5_000,
    100,
  );
  t.ok(outcome, 'serves again after the leader died, by itself');
  // Quorum lost (two of three down): fail closed, never a reserve.
  for (const m of etcd.members) await m.kill('SIGKILL');
  await t.rejects(store.reserve(slot, { level: 70, round: 0, digest: D1 }), { code: 'STORE_UNAVAILABLE' }, 'no quorum: reserve fails closed');
});
