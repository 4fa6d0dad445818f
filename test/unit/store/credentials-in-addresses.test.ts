// Store connection words: a user or password written into an address list (etcd endpoints, Redis
// Cluster or Sentinel nodes) is refused before anything connects and never repeated (argv is readable
// by every local user); a Redis outage is said as "not connected", not in ioredis's internal words.
import t from 'tap';
import { connectEtcd } from '../../../lib/store/etcd-connection.js';
import { connectRedis, parseRedisUrl, storeUnavailable } from '../../../lib/store/redis-connection.js';

const SECRET = 'hunter2';

t.test('etcd endpoints', async (t) => {
  for (const endpoint of [`http://root:${SECRET}@127.0.0.1:2379`, `root:${SECRET}@127.0.0.1:2379`]) {
    let message = '';
    t.throws(() => connectEtcd({ endpoints: [endpoint], requestTimeoutMs: 1000 }), { code: 'CONFIG_INVALID' }, endpoint.replace(SECRET, '…'));
    try {
      connectEtcd({ endpoints: [endpoint], requestTimeoutMs: 1000 });
    } catch (err) {
      message = (err as Error).message;
    }
    t.notMatch(message, SECRET, 'the password is not repeated');
    t.match(message, /--etcd-password-file/);
  }
});

t.test('redis cluster and sentinel nodes', async (t) => {
  const base = { commandTimeoutMs: 1000, connectTimeoutMs: 1000 };
  for (const opts of [
    { ...base, clusterNodes: [`:${SECRET}@127.0.0.1:7000`] },
    { ...base, sentinels: [`default:${SECRET}@127.0.0.1:26379`], sentinelName: 'mymaster' },
  ]) {
    let message = '';
    try {
      connectRedis(opts);
    } catch (err) {
      t.equal((err as { code?: string }).code, 'CONFIG_INVALID');
      message = (err as Error).message;
    }
    t.notMatch(message, SECRET, 'the password is not repeated');
    t.match(message, /host:port only .*--redis-password-file/);
  }
});

t.test("a Redis outage is said in the operator's words, not ioredis's", async (t) => {
  for (const message of ["Stream isn't writeable and enableOfflineQueue options is false", 'Connection is closed.']) {
    const err = storeUnavailable('write', new Error(message));
    t.equal(err.code, 'STORE_UNAVAILABLE');
    t.equal(err.message, 'redis write failed (not connected)', message);
  }
  t.equal(storeUnavailable('read', new Error('Command timed out')).message, 'redis read failed (Command timed out)', 'other reasons kept');
});

t.test('redis URLs: host, port and database only, however the password is slipped in', async (t) => {
  const refused = [
    `redis://:${SECRET}@127.0.0.1:6379/0`,
    `redis://default:${SECRET}@127.0.0.1:6379`,
    `redis://127.0.0.1:6379/0?password=${SECRET}`,
    `REDIS://%3A${SECRET}@127.0.0.1:6379`,
    // ioredis's parser (Node's url.parse) reads the backslashes as // and :secret as the login, and a
    // single slash as a Unix socket path that its connection errors then repeat in the log.
    `redis:\\\\:${SECRET}@127.0.0.1:6379/0`,
    `redis:/:${SECRET}@127.0.0.1:6379/0`,
    `127.0.0.1:6379`,
    `redis://127.0.0.1:6379/0#${SECRET}`,
    `redis://127.0.0.1:99999`,
  ];
  for (const url of refused) {
    let message = '';
    t.throws(
      () => {
        try {
          parseRedisUrl(url);
        } catch (err) {
          message = (err as Error).message;
          throw err;
        }
      },
      { code: 'CONFIG_INVALID' },
      url.replace(SECRET, '…'),
    );
    t.notMatch(message, SECRET, 'the URL is not repeated');
  }
  t.same(parseRedisUrl('redis://127.0.0.1:6380/2'), { tls: false, host: '127.0.0.1', port: 6380, db: 2 });
  t.same(parseRedisUrl('rediss://redis.example:6379'), { tls: true, host: 'redis.example', port: 6379, db: 0 });
  t.same(parseRedisUrl('redis://[::1]:6379/0'), { tls: false, host: '::1', port: 6379, db: 0 });
  t.same(parseRedisUrl('redis://localhost'), { tls: false, host: 'localhost', port: 6379, db: 0 });
  t.same(parseRedisUrl('redis://localhost/'), { tls: false, host: 'localhost', port: 6379, db: 0 }, 'a trailing slash: database 0');
});
