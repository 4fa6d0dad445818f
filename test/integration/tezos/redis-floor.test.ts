// `--redis-local-floor`: Redis loses every mark (FLUSHALL stands in for a failover to a replica
// that missed the writes) while the daemon is down; after a restart the host's fsynced SQLite
// floor still refuses other bytes for the old slots and replays the stored signature.
import t from 'tap';
import { runSignerd } from '../../helpers/daemon.js';
import { startRedis } from '../../helpers/redis-server.js';
import { needTools } from '../../helpers/tools.js';
import { httpSign, seedKeys, startTezos, tempDir, TZ2, writeKeys, type TezosDaemon } from './fixtures.js';
import { block } from './payloads.js';

async function signWhenReady(d: TezosDaemon, payload: Buffer): Promise<{ status: number; signature: string | null }> {
  let r = { status: 503, signature: null as string | null };
  for (let i = 0; i < 100 && r.status === 503; i++) {
    r = await httpSign(d.httpPort, TZ2.pkh, payload);
    if (r.status === 503) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return r;
}

t.test('redis loses its marks; the host floor does not', needTools('redis-server', 'redis-cli'), async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const dir = tempDir(t);
  const keysFile = writeKeys(dir, seedKeys([TZ2]));
  const args = ['--store', 'redis', '--redis-url', redis.url, '--redis-local-floor', '--state-dir', `${dir}/state`];

  const first = await startTezos(t, keysFile, args);
  const signed = await signWhenReady(first, block({ level: 500, round: 1 }));
  t.equal(signed.status, 200, 'block 500/1 signed');
  await first.daemon.stop('SIGKILL');

  t.equal(await redis.cli('FLUSHALL'), 'OK', 'redis forgets every mark');
  const second = await startTezos(t, keysFile, args);
  t.equal((await signWhenReady(second, block({ level: 500, round: 1 }))).signature, signed.signature, 'identical bytes get the stored signature');
  t.equal((await httpSign(second.httpPort, TZ2.pkh, block({ level: 500, round: 1, variant: 'other' }))).status, 409, 'other bytes for 500/1 are still refused after the restart');
  t.equal((await httpSign(second.httpPort, TZ2.pkh, block({ level: 499, round: 3 }))).status, 409, 'lower levels are refused');
  t.equal((await httpSign(second.httpPort, TZ2.pkh, block({ level: 501, round: 0 }))).status, 200, 'higher levels are signed');
  const floor = await runSignerd(['tezos', 'watermark', 'show', '--state-dir', `${dir}/state`]);
  t.match(floor.stdout, new RegExp(`${TZ2.pkh} block +501/0 signed`), 'the host floor is an ordinary SQLite watermark file (show, export, import work on it)');
});
