// Start-up on Redis: the daemon waits (bounded) for its store before it listens, so a baker's first
// request after a signer restart is served; a Redis that can lose marks stops start-up (exit 78)
// unless --redis-wait-replicas or --redis-allow-volatile, and so do the watermark admin commands.
import net from 'node:net';
import t from 'tap';
import { runSignerd, startDaemon } from '../../helpers/daemon.js';
import { startRedis } from '../../helpers/redis-server.js';
import { needTools } from '../../helpers/tools.js';
import { httpSign, seedKeys, startTezos, tempDir, TZ1, writeKeys } from './fixtures.js';
import { consensus } from './payloads.js';

t.test('the first request after start is served: the daemon listens only once its store answers', needTools('redis-server'), async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  await redis.stop();
  const dir = tempDir(t);
  const keysFile = writeKeys(dir, seedKeys([TZ1]));
  // Redis comes up half a second after the daemon first tries to reach it (that attempt is caught
  // on Redis's port and dropped): the daemon must not listen before it can reserve marks.
  let redisSpawnedMs = Number.POSITIVE_INFINITY;
  const redisUp = new Promise<void>((resolve, reject) => {
    const catcher = net.createServer((socket) => {
      socket.destroy();
      catcher.close();
      setTimeout(() => {
        redisSpawnedMs = Date.now();
        redis.start().then(resolve, reject);
      }, 500);
    });
    catcher.listen(redis.port, '127.0.0.1');
  });
  const d = await startTezos(t, keysFile, ['--store', 'redis', '--redis-url', redis.url, '--state-dir', `${dir}/state`]);
  await redisUp;
  const first = await httpSign(d.httpPort, TZ1.pkh, consensus('attestation', { level: 1, round: 0 }));
  t.equal(first.status, 200, `the very first request is signed (${first.code ?? 'ok'})`);
  const listening = d.daemon.logs.find((l) => l['msg'] === 'listening');
  t.ok(Date.parse(String(listening?.['time'])) >= redisSpawnedMs, 'listening was logged after Redis came up');
});

t.test('a Redis that can lose marks: exit 78 naming the setting; --redis-allow-volatile warns', needTools('redis-server'), async (t) => {
  const redis = await startRedis(['--appendonly', 'no']);
  t.teardown(() => redis.stop());
  const dir = tempDir(t);
  const keysFile = writeKeys(dir, seedKeys([TZ1]));
  const args = ['tezos', '--keys', keysFile, '--port', '0', '--http-port', '0', '--store', 'redis', '--redis-url', redis.url, '--state-dir', `${dir}/state`];
  const refused = await startDaemon(args, { listeners: 2 }).then(
    async (d) => {
      await d.stop('SIGKILL');
      return 'listening';
    },
    (err: Error) => err.message,
  );
  t.match(
    refused,
    /exited 78 before listening: signerd tezos: CONFIG_INVALID: redis may lose a write it acknowledged .*appendonly is no/s,
    'the daemon refuses to start',
  );

  const show = await runSignerd(['tezos', 'watermark', 'show', '--store', 'redis', '--redis-url', redis.url]);
  t.equal(show.code, 78, 'watermark show: exit 78');
  t.match(show.stderr, /appendonly is no/);

  const allowed = await startDaemon([...args, '--redis-allow-volatile'], { listeners: 2 });
  t.teardown(() => allowed.stop('SIGKILL'));
  t.ok(
    allowed.logs.some((l) => l['level'] === 'warn' && /--redis-allow-volatile/.test(String(l['msg']))),
    'with --redis-allow-volatile: it starts, with a warning',
  );
});
