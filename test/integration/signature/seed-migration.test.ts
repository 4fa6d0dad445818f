// `signerd migrate-seed` against a real redis-server filled the way the Python original filled it
// (MSET <lowercase hex signature> <message>, no TTL, Celery keys beside them), then the migrated
// signatures are checked through real verify daemons on the destination store.
import t, { type Test } from 'tap';
import crypto, { type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { runSignerd, startDaemon } from '../../helpers/daemon.js';
import { request } from '../../helpers/line-client.js';
import { freePort } from '../../helpers/ports.js';
import { startRedis, type TestRedis } from '../../helpers/redis-server.js';
import { startEtcd } from '../../helpers/etcd-cluster.js';
import { needPostgres, startPostgres } from '../../helpers/postgres-server.js';
import { needTools } from '../../helpers/tools.js';
import { INVALID, VALID, makeKeys, type Family } from '../../helpers/signature-fixtures.js';

const dir = t.testdir();

/** Signs as the original did: pycryptodome PKCS1_PSS (SHA-256, MGF1-SHA-256, salt 32) or DSS fips-186-3 binary r‖s. */
function seedSign(family: Family, privateKey: KeyObject, message: string): string {
  const sig =
    family === 'rsa'
      ? crypto.sign('sha256', Buffer.from(message), {
          key: privateKey,
          padding: crypto.constants.RSA_PKCS1_PSS_PADDING,
          saltLength: 32,
          mgf1HashAlgorithm: 'sha256',
        } as crypto.SignKeyObjectInput)
      : crypto.sign('sha384', Buffer.from(message), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return sig.toString('hex');
}

/** A fresh source redis-server (stopped at teardown) and a key pair the "original" signs with. */
async function seedSource(t: Test, family: Family, name: string): Promise<{ redis: TestRedis; keys: ReturnType<typeof makeKeys>; privateKey: KeyObject }> {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const keys = makeKeys(dir, family, name);
  return { redis, keys, privateKey: crypto.createPrivateKey(fs.readFileSync(keys.privateKeyFile)) };
}

interface Seeded {
  good: string;
  upper: string;
  bad: string;
  wrongLength: string;
  listKey: string;
}

/** Writes seven keys: two good records (one with an uppercase key), one that does not verify, four to skip. */
async function fillLikeTheOriginal(redis: TestRedis, family: Family, privateKey: KeyObject, signatureBytes: number): Promise<Seeded> {
  const good = seedSign(family, privateKey, 'seed token one');
  const upper = seedSign(family, privateKey, 'seed token two').toUpperCase();
  const bad = crypto.randomBytes(signatureBytes).toString('hex');
  const wrongLength = crypto.randomBytes(signatureBytes + 2).toString('hex');
  const listKey = crypto.randomBytes(signatureBytes).toString('hex');
  await redis.cli('MSET', good, 'seed token one');
  await redis.cli('MSET', upper, 'seed token two');
  await redis.cli('MSET', bad, 'forged token');
  await redis.cli('MSET', wrongLength, 'seed token one');
  await redis.cli('SET', 'celery-task-meta-5f0c7c1e-2f9b-4c47-9d8e-0d2b1c1f2e3a', '{"status": "SUCCESS"}');
  await redis.cli('SADD', '_kombu.binding.celery', 'celery');
  await redis.cli('RPUSH', listKey, 'not a string value');
  return { good, upper, bad, wrongLength, listKey };
}

interface DestCase {
  family: Family;
  store: string;
  /** What the destination needs beside the source's redis (tap skip options; CI fails instead). */
  needs(): { skip?: string };
  /** Destination store options; the redis one shares the source's db 0, as an operator might. */
  args(redis: TestRedis, t: Test): Promise<string[]>;
}

const cases: DestCase[] = [
  { family: 'rsa', store: 'sqlite', needs: () => ({}), args: async () => ['--state-dir', path.join(dir, 'state-rsa')] },
  { family: 'ecdsa', store: 'redis', needs: () => ({}), args: async (redis) => ['--store', 'redis', '--redis-url', redis.url, '--redis-prefix', 'test:'] },
  {
    family: 'ecdsa',
    store: 'postgres',
    needs: needPostgres,
    args: async (_redis, t) => {
      const server = await startPostgres();
      t.teardown(() => server.stop());
      return ['--store', 'postgres', '--postgres-url', server.url(), '--postgres-sslmode', 'disable'];
    },
  },
  {
    family: 'ecdsa',
    store: 'etcd',
    needs: () => needTools('etcd'),
    args: async (_redis, t) => {
      const etcd = await startEtcd(1);
      t.teardown(() => etcd.stop());
      return ['--store', 'etcd', '--etcd-endpoints', etcd.endpoints.join(',')];
    },
  },
];

for (const c of cases) {
  t.test(`${c.family} → ${c.store}: migrated signatures verify, the rest do not`, { ...needTools('redis-server', 'redis-cli'), ...c.needs() }, async (t) => {
    const { redis, keys, privateKey } = await seedSource(t, c.family, `seed-${c.family}-${c.store}`);
    const signatureBytes = c.family === 'rsa' ? 256 : 96;
    const seeded = await fillLikeTheOriginal(redis, c.family, privateKey, signatureBytes);
    const dest = await c.args(redis, t);
    const migrate = (...extra: string[]): ReturnType<typeof runSignerd> =>
      runSignerd(['migrate-seed', '--from-redis-url', `${redis.url}/0`, '--type', c.family, '--public-key', keys.publicKeyFile, ...dest, ...extra]);

    const dry = await migrate('--dry-run');
    t.equal(dry.code, 1, 'a record that does not verify gives exit 1');
    t.equal(dry.stdout, 'dry run, nothing written: scanned 7, imported 2, already present 0, not verifying 1, skipped 4\n');
    t.equal((await runSignerd(['show', seeded.good, ...dest])).code, 1, 'dry run wrote nothing');

    const run = await migrate();
    t.equal(run.code, 1);
    t.equal(run.stdout, 'scanned 7, imported 2, already present 0, not verifying 1, skipped 4\n');
    t.equal(run.stderr, '');
    t.notMatch(run.stdout, /seed token|forged/, 'no message contents printed');

    const shown = await runSignerd(['show', seeded.good, '--json', ...dest]);
    t.match(JSON.parse(shown.stdout), {
      status: 'valid',
      record: {
        keyId: keys.keyId,
        algorithm: c.family === 'rsa' ? 'rsa-pss-sha256' : 'ecdsa-p384-sha384',
        message: Buffer.from('seed token one').toString('base64'),
        expiresMs: null,
      },
    });

    const verifier = await startDaemon([`verify-${c.family}`, '--port', '0', '--keyring', keys.publicKeyFile, ...dest]);
    t.teardown(() => verifier.stop());
    t.equal(await request(verifier.port, seeded.good), VALID[c.family], 'a migrated signature verifies');
    t.equal(await request(verifier.port, seeded.upper), VALID[c.family], 'an uppercase seed key migrates too');
    t.equal(await request(verifier.port, seeded.bad), INVALID[c.family], 'a record that did not verify was not imported');
    t.equal(await request(verifier.port, seeded.listKey), INVALID[c.family], 'a non-string value was skipped');
    t.equal(await request(verifier.port, seeded.wrongLength), INVALID[c.family], 'a wrong-length key was skipped');

    // A revoked record stays revoked: a second run must not reinstate it.
    t.equal((await runSignerd(['revoke', seeded.good, ...dest])).code, 0);
    const again = await migrate();
    const destKeys = c.store === 'redis' ? 2 : 0;
    t.equal(again.stdout, `scanned ${7 + destKeys}, imported 0, already present 2, not verifying 1, skipped ${4 + destKeys}\n`);
    t.equal(await request(verifier.port, seeded.good), INVALID[c.family], 'revoked before the rerun, still revoked after');
  });
}

t.test('a source key with a TTL keeps its expiry; only verifying records give exit 0', needTools('redis-server', 'redis-cli'), async (t) => {
  const { redis, keys, privateKey } = await seedSource(t, 'ecdsa', 'seed-ttl');
  const sig = seedSign('ecdsa', privateKey, 'expiring');
  await redis.cli('MSET', sig, 'expiring');
  await redis.cli('EXPIRE', sig, '3600');
  const dest = ['--state-dir', path.join(dir, 'state-ttl')];
  const run = await runSignerd(['migrate-seed', '--from-redis-url', redis.url, '--type', 'ecdsa', '--public-key', keys.publicKeyFile, ...dest]);
  t.equal(run.code, 0);
  t.equal(run.stdout, 'scanned 1, imported 1, already present 0, not verifying 0, skipped 0\n');
  const record = JSON.parse((await runSignerd(['show', sig, '--json', ...dest])).stdout).record as { expiresMs: number };
  t.ok(record.expiresMs > Date.now() + 3_500_000 && record.expiresMs <= Date.now() + 3_600_000, 'expiry carried over');
});

t.test('a password-protected source: the password comes from a file', needTools('redis-server', 'redis-cli'), async (t) => {
  const { redis, keys, privateKey } = await seedSource(t, 'rsa', 'seed-auth');
  const sig = seedSign('rsa', privateKey, 'behind a password');
  await redis.cli('MSET', sig, 'behind a password');
  // Set after start-up: the helper's readiness PING is unauthenticated.
  await redis.cli('CONFIG', 'SET', 'requirepass', 'seed-secret');
  const passwordFile = path.join(dir, 'seed-redis-password');
  fs.writeFileSync(passwordFile, 'seed-secret\n', { mode: 0o600 });
  const base = [
    'migrate-seed',
    '--from-redis-url',
    redis.url,
    '--type',
    'rsa',
    '--public-key',
    keys.publicKeyFile,
    '--state-dir',
    path.join(dir, 'state-auth'),
  ];

  const run = await runSignerd([...base, '--from-redis-password-file', passwordFile]);
  t.equal(run.code, 0, run.stderr);
  t.equal(run.stdout, 'scanned 1, imported 1, already present 0, not verifying 0, skipped 0\n');

  const inUrl = await runSignerd(['migrate-seed', '--from-redis-url', `redis://:seed-secret@127.0.0.1:${redis.port}`, ...base.slice(3)]);
  t.equal(inUrl.code, 78, 'a password in the URL is refused');
  t.notMatch(inUrl.stderr, /seed-secret/);
  t.match(inUrl.stderr, /use --from-redis-password-file/, "the refusal names the source's own option");
});

t.test('wrong inputs: unreachable source exits 69, a key of the other type 78, one error line each', async (t) => {
  const keys = makeKeys(dir, 'ecdsa', 'seed-errors');
  const dest = ['--state-dir', path.join(dir, 'state-errors')];
  const port = await freePort();
  const down = await runSignerd([
    'migrate-seed',
    '--from-redis-url',
    `redis://127.0.0.1:${port}/0`,
    '--type',
    'ecdsa',
    '--public-key',
    keys.publicKeyFile,
    '--store-timeout-ms',
    '200',
    ...dest,
  ]);
  t.equal(down.code, 69);
  t.equal(down.stdout, '');
  t.match(down.stderr, /^signerd migrate-seed: STORE_UNAVAILABLE: [^\n]*source[^\n]*\n$/);

  const wrongType = await runSignerd([
    'migrate-seed',
    '--from-redis-url',
    `redis://127.0.0.1:${port}/0`,
    '--type',
    'rsa',
    '--public-key',
    keys.publicKeyFile,
    ...dest,
  ]);
  t.equal(wrongType.code, 78);
  t.match(wrongType.stderr, /^signerd migrate-seed: KEY_LOAD_FAILED: [^\n]*expected an RSA key[^\n]*\n$/);

  const missing = await runSignerd(['migrate-seed', '--type', 'rsa', '--public-key', keys.publicKeyFile, ...dest]);
  t.equal(missing.code, 78, 'a missing --from-redis-url is a usage error');
});
