// The Redis validity store on every topology the daemons support, each against real redis-server
// processes: TLS (rediss://) with a password from a file, Sentinel, and Cluster.
import t, { type Test } from 'tap';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { runSignerd, startDaemon } from '../../helpers/daemon.js';
import { request } from '../../helpers/line-client.js';
import { freePort } from '../../helpers/ports.js';
import { DURABLE_ARGS } from '../../helpers/redis-server.js';
import { needTools } from '../../helpers/tools.js';
import { waitFor } from '../../helpers/polling.js';
import { INVALID, VALID, makeKeys, signaturesOf } from '../../helpers/signature-fixtures.js';

const dir = t.testdir();

/** Each server keeps its AOF (appendfsync always, as signerd requires) in a directory of its own. */
function spawnRedis(t: Test, args: string[]): ChildProcess {
  const own = fs.mkdtempSync(path.join(dir, 'redis-'));
  const proc = spawn('redis-server', ['--bind', '127.0.0.1', '--save', '', ...DURABLE_ARGS, '--dir', own, ...args], { stdio: 'ignore' });
  t.teardown(() => void proc.kill('SIGKILL'));
  return proc;
}

/** Waits (15 s at most) until `check` holds; a redis-cli that cannot connect yet counts as not yet. */
async function waitUntilUp(what: string, check: () => boolean): Promise<void> {
  const holds = (): boolean => {
    try {
      return check();
    } catch {
      return false; // not up yet
    }
  };
  await waitFor(holds, 15_000, what, 100);
}

const cli = (...args: string[]): string => execFileSync('redis-cli', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });

/** Signs, verifies, revokes and reinstates through the given store options. */
async function roundTrip(t: Test, name: string, storeArgs: string[]): Promise<void> {
  const keys = makeKeys(dir, 'ecdsa', name);
  const base = ['--port', '0', '--store', 'redis', ...storeArgs];
  const signer = await startDaemon(['sign-ecdsa', '--key', keys.privateKeyFile, ...base]);
  const verifier = await startDaemon(['verify-ecdsa', '--keyring', keys.publicKeyFile, ...base]);
  t.teardown(async () => {
    await signer.stop();
    await verifier.stop();
  });
  const sig = signaturesOf(await request(signer.port, `via ${name}`))[0]!;
  t.ok(sig, 'signed');
  t.equal(await request(verifier.port, sig), VALID.ecdsa);
  t.equal((await runSignerd(['revoke', sig, '--store', 'redis', ...storeArgs])).code, 0);
  t.equal(await request(verifier.port, sig), INVALID.ecdsa, 'revoked');
  t.equal((await runSignerd(['reinstate', sig, '--store', 'redis', ...storeArgs])).code, 0);
  t.equal(await request(verifier.port, sig), VALID.ecdsa, 'reinstated');
}

t.test('rediss:// with a CA file and a password file', needTools('redis-server', 'redis-cli', 'openssl'), async (t) => {
  const tls = path.join(dir, 'tls');
  fs.mkdirSync(tls);
  const run = (...args: string[]): void => void execFileSync('openssl', args, { cwd: tls, stdio: 'ignore' });
  run(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=test CA',
  );
  run('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  fs.writeFileSync(path.join(tls, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  run('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'san.ext');
  const password = 'correct horse battery staple';
  const passwordFile = path.join(dir, 'redis-password');
  fs.writeFileSync(passwordFile, password + '\n', { mode: 0o600 });
  const port = await freePort();
  spawnRedis(t, [
    '--port',
    '0',
    '--tls-port',
    String(port),
    '--tls-cert-file',
    path.join(tls, 'server.pem'),
    '--tls-key-file',
    path.join(tls, 'server.key'),
    '--tls-ca-cert-file',
    path.join(tls, 'ca.pem'),
    '--tls-auth-clients',
    'no',
    '--requirepass',
    password,
  ]);
  await waitUntilUp(
    'TLS redis',
    () => cli('--tls', '--cacert', path.join(tls, 'ca.pem'), '-p', String(port), '--pass', password, '--no-auth-warning', 'PING').trim() === 'PONG',
  );

  fs.chmodSync(passwordFile, 0o644);
  const loose = await runSignerd(['show', 'ab', '--store', 'redis', '--redis-url', `rediss://127.0.0.1:${port}`, '--redis-password-file', passwordFile]);
  t.equal(loose.code, 78, 'a group/world-readable password file is refused');
  fs.chmodSync(passwordFile, 0o600);
  const inUrl = await runSignerd(['show', 'ab', '--store', 'redis', '--redis-url', `rediss://:secret@127.0.0.1:${port}`]);
  t.match(inUrl.stderr, /must not carry a user, a password or options/);
  t.notMatch(inUrl.stderr, /secret/, 'and the password is not echoed');
  // Every other way ioredis takes a password from a URL: another case, a query parameter, no scheme.
  for (const url of [
    `REDISS://:secret@127.0.0.1:${port}`,
    `rediss://127.0.0.1:${port}/0?password=secret`,
    `//:secret@127.0.0.1:${port}`,
    `rediss://%3Asecret@127.0.0.1:${port}`,
    `rediss://user%3Asecret@127.0.0.1:${port}`,
  ]) {
    const refused = await runSignerd(['show', 'ab', '--store', 'redis', '--redis-url', url]);
    t.equal(refused.code, 78, `${url.replace('secret', '…')}: refused`);
    t.notMatch(refused.stderr, /secret/, 'and the password is not echoed');
  }

  await roundTrip(t, 'tls', ['--redis-url', `rediss://127.0.0.1:${port}`, '--redis-tls-ca', path.join(tls, 'ca.pem'), '--redis-password-file', passwordFile]);
});

t.test('Sentinel', needTools('redis-server', 'redis-cli'), async (t) => {
  const masterPort = await freePort();
  spawnRedis(t, ['--port', String(masterPort)]);
  await waitUntilUp('master', () => cli('-p', String(masterPort), 'PING').trim() === 'PONG');
  const sentinelPort = await freePort();
  const conf = path.join(dir, 'sentinel.conf');
  fs.writeFileSync(conf, `port ${sentinelPort}\nbind 127.0.0.1\nsentinel monitor signerd-test 127.0.0.1 ${masterPort} 1\ndir ${dir}\n`);
  const sentinel = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
  t.teardown(() => void sentinel.kill('SIGKILL'));
  await waitUntilUp('sentinel', () => cli('-p', String(sentinelPort), 'SENTINEL', 'get-master-addr-by-name', 'signerd-test').includes(String(masterPort)));
  await roundTrip(t, 'sentinel', ['--redis-sentinels', `127.0.0.1:${sentinelPort}`, '--redis-sentinel-name', 'signerd-test']);
});

t.test('Cluster', needTools('redis-server', 'redis-cli'), async (t) => {
  const ports = [await freePort(), await freePort(), await freePort()];
  for (const port of ports) {
    spawnRedis(t, ['--port', String(port), '--cluster-enabled', 'yes', '--cluster-config-file', path.join(dir, `nodes-${port}.conf`)]);
  }
  for (const port of ports) await waitUntilUp(`node ${port}`, () => cli('-p', String(port), 'PING').trim() === 'PONG');
  execFileSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-yes'], { stdio: 'ignore' });
  await waitUntilUp('cluster ok', () => ports.every((p) => cli('-p', String(p), 'CLUSTER', 'INFO').includes('cluster_state:ok')));
  await roundTrip(t, 'cluster', ['--redis-cluster', ports.map((p) => `127.0.0.1:${p}`).join(',')]);
});
