// The local floor (the default on Redis; `--redis-local-floor` says so explicitly): Redis loses every
// mark (FLUSHALL stands in for a failover to a replica that missed the writes) while the daemon is
// down; after a restart the host's fsynced SQLite floor still refuses other bytes for the old slots
// and replays the stored signature. `--no-redis-local-floor` turns it off, with a warning each start.
// A restart is the daemon served again in the test process: its in-memory floor is gone, as after a
// new process (SIGKILL mid-load and restart on these stores is crash.test.ts). A live daemon whose
// Redis loses its marks answers identical retries from its floors, every time.
import fs from 'node:fs';
import t from 'tap';
import { runSignerd } from '../../helpers/daemon.js';
import { startRedis } from '../../helpers/redis-server.js';
import { needTools } from '../../helpers/tools.js';
import { httpSign, httpSignWhenStoreUp, seedKeys, serveTezos, tempDir, TZ2, writeKeys, type ServedTezos } from './fixtures.js';
import { block } from './payloads.js';

function signWhenReady(d: ServedTezos, payload: Buffer): ReturnType<typeof httpSign> {
  return httpSignWhenStoreUp(d.httpPort, TZ2.pkh, payload);
}

t.test('redis loses its marks; the host floor does not', needTools('redis-server', 'redis-cli'), async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const dir = tempDir(t);
  const keysFile = writeKeys(dir, seedKeys([TZ2]));
  const args = ['--store', 'redis', '--redis-url', redis.url, '--redis-local-floor', '--state-dir', `${dir}/state`];

  const first = await serveTezos(t, keysFile, args);
  const signed = await signWhenReady(first, block({ level: 500, round: 1 }));
  t.equal(signed.status, 200, 'block 500/1 signed');
  await first.stop();

  t.equal(await redis.cli('FLUSHALL'), 'OK', 'redis forgets every mark');
  const second = await serveTezos(t, keysFile, args);
  t.equal((await signWhenReady(second, block({ level: 500, round: 1 }))).signature, signed.signature, 'identical bytes get the stored signature');
  // The first retry reserved 500/1 in Redis again, unsigned: the floor's signature is written back, so
  // every later identical retry (a baker retries) gets it too, not a 409 after waiting for a record.
  t.equal((await httpSign(second.httpPort, TZ2.pkh, block({ level: 500, round: 1 }))).signature, signed.signature, 'and again');
  t.match(await redis.cli('KEYS', '*'), /./, 'redis holds the mark again');
  t.equal((await httpSign(second.httpPort, TZ2.pkh, block({ level: 500, round: 1 }))).signature, signed.signature, 'and a third time');
  t.equal(
    (await httpSign(second.httpPort, TZ2.pkh, block({ level: 500, round: 1, variant: 'other' }))).status,
    409,
    'other bytes for 500/1 are still refused after the restart',
  );
  t.equal((await httpSign(second.httpPort, TZ2.pkh, block({ level: 499, round: 3 }))).status, 409, 'lower levels are refused');
  t.equal((await httpSign(second.httpPort, TZ2.pkh, block({ level: 501, round: 0 }))).status, 200, 'higher levels are signed');
  const floor = await runSignerd(['tezos', 'watermark', 'show', '--state-dir', `${dir}/state`]);
  t.match(floor.stdout, new RegExp(`${TZ2.pkh} block +501/0 signed`), 'the host floor is an ordinary SQLite watermark file (show, export, import work on it)');
});

t.test('redis loses its marks under a running daemon: every identical retry gets the signature', needTools('redis-server', 'redis-cli'), async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const dir = tempDir(t);
  const keysFile = writeKeys(dir, seedKeys([TZ2]));
  const daemon = await serveTezos(t, keysFile, ['--store', 'redis', '--redis-url', redis.url, '--state-dir', `${dir}/state`]);
  const signed = await signWhenReady(daemon, block({ level: 700, round: 0 }));
  t.equal(signed.status, 200);
  t.equal(await redis.cli('FLUSHALL'), 'OK');
  for (let i = 1; i <= 3; i++) {
    const again = await httpSign(daemon.httpPort, TZ2.pkh, block({ level: 700, round: 0 }));
    t.equal(again.signature, signed.signature, `identical retry ${i}: the stored signature`);
  }
  t.equal((await httpSign(daemon.httpPort, TZ2.pkh, block({ level: 700, round: 0, variant: 'other' }))).status, 409, 'other bytes: refused');
});

t.test('by default (no floor option) the FLUSHALL + restart double sign is refused', needTools('redis-server', 'redis-cli'), async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const dir = tempDir(t);
  const keysFile = writeKeys(dir, seedKeys([TZ2]));
  const args = ['--store', 'redis', '--redis-url', redis.url, '--state-dir', `${dir}/state`];

  const first = await serveTezos(t, keysFile, args);
  t.equal((await signWhenReady(first, block({ level: 600, round: 2 }))).status, 200, 'block 600/2 signed');
  t.notOk(
    first.logs.some((l) => l['level'] === 'warn' && /local-floor/.test(String(l['msg']))),
    'no floor warning: the floor is on',
  );
  await first.stop();
  t.equal(await redis.cli('FLUSHALL'), 'OK', 'redis loses its data');

  const second = await serveTezos(t, keysFile, args);
  const other = await signWhenReady(second, block({ level: 600, round: 2, variant: 'other' }));
  t.equal(other.status, 409, 'a different block at the signed level and round is refused after the restart');
  t.equal(other.code, 'WATERMARK_REJECTED');
});

t.test('--no-redis-local-floor: warned at every start, and Redis alone decides', needTools('redis-server', 'redis-cli'), async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const dir = tempDir(t);
  const keysFile = writeKeys(dir, seedKeys([TZ2]));
  const args = ['--store', 'redis', '--redis-url', redis.url, '--no-redis-local-floor', '--state-dir', `${dir}/state`];
  const warned = (d: ServedTezos): boolean => d.logs.some((l) => l['level'] === 'warn' && /--no-redis-local-floor/.test(String(l['msg'])));

  const first = await serveTezos(t, keysFile, args);
  t.ok(warned(first), 'first start: warning');
  t.equal((await signWhenReady(first, block({ level: 700, round: 0 }))).status, 200);
  await first.stop();
  await redis.cli('FLUSHALL');
  const second = await serveTezos(t, keysFile, args);
  t.ok(warned(second), 'second start: warning again');
  // What the warning says would happen: with the marks gone from Redis, nothing else remembers them.
  t.equal((await signWhenReady(second, block({ level: 700, round: 0, variant: 'other' }))).status, 200, 'the opt-out is real: Redis alone decides');
  t.notOk(fs.existsSync(`${dir}/state`), 'and no local floor file was created');
  const sqlite = await runSignerd(['tezos', '--keys', keysFile, '--no-redis-local-floor', '--no-http', '--port', '0']);
  t.equal(sqlite.code, 78, 'the floor options apply to --store redis only');
});
