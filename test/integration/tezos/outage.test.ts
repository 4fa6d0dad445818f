// Store outages: signing is refused (HTTP 503, ERR STORE_UNAVAILABLE) while a real redis-server
// is down or the SQLite file is locked, public keys still answer, and signing resumes by itself.
import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { WATERMARK_SQLITE_FILE } from '../../../daemons/tezos/watermark/sqlite-watermark-store.js';
import { request } from '../../helpers/line-client.js';
import { startRedis } from '../../helpers/redis-server.js';
import { needTools } from '../../helpers/tools.js';
import { http, httpSign, seedKeys, startTezos, tempDir, TZ1, writeKeys } from './fixtures.js';
import { retryUntil } from '../../helpers/polling.js';
import { consensus } from './payloads.js';

t.test('redis outage: fail closed, then recover by itself', needTools('redis-server'), async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const dir = tempDir(t);
  const { daemon, linePort, httpPort } = await startTezos(t, writeKeys(dir, seedKeys([TZ1])), [
    '--store',
    'redis',
    '--redis-url',
    redis.url,
    '--state-dir',
    `${dir}/state`,
    '--store-timeout-ms',
    '300',
  ]);

  const first = await retryUntil(
    () => httpSign(httpPort, TZ1.pkh, consensus('attestation', { level: 100, round: 0 })),
    (r) => r.status === 200,
    10_000,
    50,
  );
  t.equal(first.status, 200, 'signs while redis is up');

  await redis.stop();
  const down = await httpSign(httpPort, TZ1.pkh, consensus('attestation', { level: 101, round: 0 }));
  t.equal(down.status, 503, 'HTTP 503 while the store is down');
  t.match(down.body, [{ id: 'failure' }], 'octez-style error array');
  t.equal(down.code, 'STORE_UNAVAILABLE', 'the signerd code in its header');
  const line = await request(linePort, `sign ${TZ1.pkh} ${consensus('attestation', { level: 101, round: 1 }).toString('hex')}`);
  t.match(line, /^ERR STORE_UNAVAILABLE /, 'line protocol: ERR STORE_UNAVAILABLE');
  t.equal((await http(httpPort, 'GET', `/keys/${TZ1.pkh}`)).status, 200, 'public keys still answer');

  await redis.start();
  const back = await retryUntil(
    () => httpSign(httpPort, TZ1.pkh, consensus('attestation', { level: 102, round: 0 })),
    (r) => r.status === 200,
    20_000,
    50,
  );
  t.equal(back.status, 200, 'signs again after redis returns, without a daemon restart');
  // Refused by Redis (its AOF kept the marks) and by both of the daemon's floors.
  const replay = await httpSign(httpPort, TZ1.pkh, consensus('attestation', { level: 100, round: 0, variant: 'other' }));
  t.equal(replay.status, 409, 'a mark the store lost is still refused by the running daemon');
  t.equal(daemon.proc.exitCode, null, 'the daemon never exited');
});

t.test('sqlite lock held by another process: fail closed, then recover', async (t) => {
  const dir = tempDir(t);
  const { httpPort } = await startTezos(t, writeKeys(dir, seedKeys([TZ1])), ['--state-dir', `${dir}/state`, '--store-timeout-ms', '200']);
  t.equal((await httpSign(httpPort, TZ1.pkh, consensus('attestation', { level: 1, round: 0 }))).status, 200, 'signs');
  // Another writer (an admin tool, a stuck process) holds the database's write lock.
  const db = new Database(path.join(dir, 'state', WATERMARK_SQLITE_FILE));
  db.exec('BEGIN IMMEDIATE');
  t.equal(
    (await httpSign(httpPort, TZ1.pkh, consensus('attestation', { level: 2, round: 0 }))).status,
    503,
    'busy past --store-timeout-ms: 503, nothing signed',
  );
  db.exec('COMMIT');
  db.close();
  t.equal((await httpSign(httpPort, TZ1.pkh, consensus('attestation', { level: 2, round: 0 }))).status, 200, 'serves again once the lock is released');
});

t.test('a state directory replaced, moved away or its log deleted under the daemon: nothing signed into lost files', async (t) => {
  const dir = tempDir(t);
  const state = path.join(dir, 'state');
  const { linePort } = await startTezos(t, writeKeys(dir, seedKeys([TZ1])), ['--state-dir', state]);
  const sign = (level: number, round = 0): Promise<string> =>
    request(linePort, `sign ${TZ1.pkh} ${consensus('attestation', { level, round }).toString('hex')}`);
  t.match(await sign(100), /^edsig/, 'signs');
  // Replaced by a copy (a restore, an rsync): the daemon's connection would write to the unlinked original.
  // The daemon's readiness probe makes and removes a file there every second: not copied.
  fs.cpSync(state, `${state}.copy`, { recursive: true, filter: (src) => !path.basename(src).startsWith('.readiness-probe-') });
  fs.rmSync(state, { recursive: true });
  fs.renameSync(`${state}.copy`, state);
  t.match(
    await sign(101),
    /^ERR STORE_UNAVAILABLE sqlite watermark reserve: .*tezos-watermarks\.sqlite was replaced while this process had it open/,
    'replaced: refused',
  );
  t.match(await sign(102), /^ERR STORE_UNAVAILABLE /, 'and stays refused');
});

t.test('a state directory moved away and back: refused meanwhile, then signing again by itself', async (t) => {
  const dir = tempDir(t);
  const state = path.join(dir, 'state');
  const { linePort } = await startTezos(t, writeKeys(dir, seedKeys([TZ1])), ['--state-dir', state]);
  const sign = (level: number): Promise<string> => request(linePort, `sign ${TZ1.pkh} ${consensus('attestation', { level, round: 0 }).toString('hex')}`);
  t.match(await sign(100), /^edsig/, 'signs');
  fs.renameSync(state, `${state}.away`);
  t.match(await sign(101), /^ERR STORE_UNAVAILABLE .*was removed while this process had it open/, 'moved away: refused');
  fs.renameSync(`${state}.away`, state);
  t.match(await sign(102), /^edsig/, 'back: signing again');
  // Its write-ahead log deleted (a "clean-up"): marks would go to an unlinked log.
  fs.rmSync(path.join(state, `${WATERMARK_SQLITE_FILE}-wal`));
  t.match(await sign(103), /^ERR STORE_UNAVAILABLE .*-wal was removed while this process had it open/, 'its -wal deleted: refused');
});
