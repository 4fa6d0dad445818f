// The validity model on the one-host and fast stores (SQLite, Redis), and a Redis outage.
// PostgreSQL and etcd run the same model in validity-shared-stores.test.ts.
import t from 'tap';
import { startDaemon } from '../../helpers/daemon.js';
import { request } from '../../helpers/line-client.js';
import { startRedis } from '../../helpers/redis-server.js';
import { needTools } from '../../helpers/tools.js';
import { INVALID, VALID, makeKeys, signaturesOf } from '../../helpers/signature-fixtures.js';
import { retryUntil } from '../../helpers/polling.js';
import { runValidityModel } from './validity-model.js';

const dir = t.testdir();

runValidityModel(['sqlite', 'redis']);

t.test('redis stopped mid-run: errors, never a verdict, then recovery without restart', needTools('redis-server', 'redis-cli'), async (t) => {
  // A Redis without persistence, accepted explicitly: what it loses on a restart is lost for good.
  const redis = await startRedis(['--appendonly', 'no']);
  const keys = makeKeys(dir, 'ecdsa', 'outage');
  // The outage is seen on the dropped connection (no command waits for Redis to come back), not by
  // the deadline: that only has to hold the requests before and after it on a loaded machine.
  const base = ['--port', '0', '--store', 'redis', '--redis-url', redis.url, '--redis-allow-volatile', '--store-timeout-ms', '5000'];
  const signer = await startDaemon(['sign-ecdsa', '--key', keys.privateKeyFile, ...base]);
  const verifier = await startDaemon(['verify-ecdsa', '--keyring', keys.publicKeyFile, ...base]);
  t.teardown(async () => {
    await signer.stop();
    await verifier.stop();
    await redis.stop();
  });
  const sig = signaturesOf(await request(signer.port, 'before'))[0]!;
  t.equal(await request(verifier.port, sig), VALID.ecdsa);

  await redis.stop();
  t.match(await request(signer.port, 'during'), /^ERR STORE_UNAVAILABLE /, 'sign refuses: an unrecorded signature could never verify');
  t.match(await request(verifier.port, sig), /^ERR STORE_UNAVAILABLE /, 'verify gives no verdict');

  // Redis comes back empty (no persistence): service resumes, and the old record is gone (fail closed).
  await redis.start();
  const reply = await retryUntil(
    () => request(signer.port, 'after'),
    (r) => r.startsWith('(b'),
    5_000,
    100,
  );
  t.match(reply, /^\(b'after', b'[0-9a-f]+'\)$/, 'signing resumed by itself');
  t.equal(await request(verifier.port, signaturesOf(reply)[0]!), VALID.ecdsa, 'verify resumed by itself');
  t.equal(await request(verifier.port, sig), INVALID.ecdsa, 'a record lost with the store is not valid');
});
