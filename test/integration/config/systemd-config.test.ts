// Every daemon starts from nothing but `--config <daemon>.json`, as the systemd units run it
// (`signerd %i --config /etc/signerd/%i.json`; the log server `signerd log serve --config
// /etc/signerd/log-serve.json`), using the shipped example configs with paths moved to a temp dir.
import t from 'tap';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startDaemon } from '../../helpers/daemon.js';
import { request } from '../../helpers/line-client.js';
import { REPO_ROOT } from '../../helpers/repo-root.js';
import { generateKeyFiles } from '../../../lib/admin/keygen-command.js';
import { generateTezosKey } from '../../../daemons/tezos/keys/tezos-key.js';

const dir = t.testdir();
const example = (daemon: string): Record<string, unknown> =>
  JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'systemd/config', `${daemon}.json`), 'utf8')) as Record<string, unknown>;
const writePrivate = (file: string, data: string | Buffer): void => {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  fs.writeFileSync(file, data, { mode: 0o600 });
};

/** The example config with its /etc and /var paths moved under the test directory, on free ports. */
function configFor(daemon: string, overrides: Record<string, unknown>): string {
  const config: Record<string, unknown> = { ...example(daemon), port: 0, metricsPort: 0, ...overrides };
  const moved = (value: unknown): unknown => (typeof value === 'string' && /^\/(etc|var)\//.test(value) ? path.join(dir, value) : value);
  for (const [key, value] of Object.entries(config)) config[key] = Array.isArray(value) ? value.map(moved) : moved(value);
  const file = path.join(dir, `${daemon}.json`);
  fs.writeFileSync(file, JSON.stringify(config));
  return file;
}

t.test('sign and verify daemons', async (t) => {
  for (const family of ['rsa', 'ecdsa'] as const) {
    const keys = generateKeyFiles(family, path.join(dir, 'keys'), family, 2048);
    fs.mkdirSync(path.join(dir, 'etc/signerd/keyring', family), { recursive: true });
    fs.copyFileSync(keys.publicKeyFile, path.join(dir, 'etc/signerd/keyring', family, `${family}.pem`));
    const signer = await startDaemon(['sign-' + family, '--config', configFor(`sign-${family}`, { key: keys.privateKeyFile })]);
    const verifier = await startDaemon(['verify-' + family, '--config', configFor(`verify-${family}`, {})]);
    t.teardown(async () => {
      await signer.stop();
      await verifier.stop();
    });
    const sig = /b'([0-9a-f]+)'\)$/.exec(await request(signer.port, 'from config'))?.[1];
    t.ok(sig, `sign-${family} signs`);
    t.match(await request(verifier.port, sig!), family === 'rsa' ? /True/ : /Valid entry found/, `verify-${family} verifies`);
  }
});

t.test('hmac, tezos and firmware', async (t) => {
  writePrivate(path.join(dir, 'etc/signerd/hmac/secret'), crypto.randomBytes(32));
  const hmac = await startDaemon(['hmac', '--config', configFor('hmac', { verifyPort: 0, httpPort: 0 })], { listeners: 3 });
  t.teardown(() => hmac.stop());
  t.match(await request(hmac.port, 'hello'), /^[0-9a-f]{64}$/, 'hmac tags');

  const { secretKey, key } = generateTezosKey('ed25519');
  writePrivate(path.join(dir, 'etc/signerd/tezos/baker.key'), secretKey + '\n');
  writePrivate(path.join(dir, 'etc/signerd/tezos/keys.json'), JSON.stringify({ keys: { [key.pkh]: { secret_key_file: 'baker.key', policy: { baking: 1 } } } }));
  const tezos = await startDaemon(['tezos', '--config', configFor('tezos', { httpPort: 0 }), '--init-watermarks'], { listeners: 2 });
  t.teardown(() => tezos.stop());
  t.equal(await request(tezos.port, `pubkey ${key.pkh}`), key.publicKey, 'tezos answers');

  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  writePrivate(path.join(dir, 'etc/signerd/firmware-keys/dev/mender/private.key'), rsa);
  const firmware = await startDaemon(['firmware', '--config', configFor('firmware', { httpPort: 0 })], { listeners: 2 });
  t.teardown(() => firmware.stop());
  t.equal(await request(firmware.port, 'PING'), 'OK PONG', 'firmware answers');
});

t.test('the log server', async (t) => {
  fs.mkdirSync(path.join(dir, 'var/lib/signerd/log'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'var/lib/signerd/log/checkpoint'), 'a checkpoint\n');
  const server = await startDaemon(['log', 'serve', '--config', configFor('log-serve', {})]);
  t.teardown(() => server.stop());
  const res = await fetch(`http://127.0.0.1:${server.port}/checkpoint`);
  t.equal(await res.text(), 'a checkpoint\n', 'log serve answers');
});
