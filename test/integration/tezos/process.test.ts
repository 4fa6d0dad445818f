// The tezos process as an operator meets it: keygen for every curve feeding a secret_key_file
// config, an encrypted key with a passphrase file, the seed's bind_addr/bind_port, and start-up
// refusals (exit 78) for loose file modes and bad configuration.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { runSignerd, startDaemon } from '../../helpers/daemon.js';
import { request } from '../../helpers/line-client.js';
import { seedKeys, serveTezos, tempDir, TZ1, TZ2, writeKeys } from './fixtures.js';

t.test('keygen → keys.json with secret_key_file → daemon', async (t) => {
  const dir = tempDir(t);
  const made: Array<{ pkh: string; public_key: string; file: string }> = [];
  for (const curve of ['ed25519', 'secp256k1', 'p256', 'bls12-381']) {
    const file = path.join(dir, `${curve}.key`);
    const out = await runSignerd(['tezos', 'keygen', '--curve', curve, '--out', file, '--json']);
    t.equal(out.code, 0, `keygen ${curve}: ${out.stderr}`);
    const printed = JSON.parse(out.stdout) as { pkh: string; public_key: string };
    t.equal(fs.statSync(file).mode & 0o777, 0o600, `${curve}: secret key file is 0600`);
    // The exact secret, not a pattern: a random public key can contain "sk" followed by 20 letters.
    const secret = fs.readFileSync(file, 'utf8').trim();
    t.ok(secret.length > 40 && !out.stdout.includes(secret) && !out.stderr.includes(secret), 'the secret key is not printed');
    made.push({ ...printed, file });
  }
  t.same(
    made.map((m) => m.pkh.slice(0, 3)),
    ['tz1', 'tz2', 'tz3', 'tz4'],
  );
  const again = await runSignerd(['tezos', 'keygen', '--out', made[0]!.file]);
  t.equal(again.code, 78, 'keygen never overwrites a file');
  t.match(again.stderr, /^signerd tezos keygen: CONFIG_INVALID: .* exists; refusing to overwrite it\n$/, 'and says so with a listed code');
  const nowhere = await runSignerd(['tezos', 'keygen', '--out', path.join(dir, 'missing', 'k')]);
  t.match(nowhere.stderr, /^signerd tezos keygen: CONFIG_INVALID: ENOENT/, 'an unwritable --out: CONFIG_INVALID');

  const keysFile = writeKeys(dir, { keys: Object.fromEntries(made.map((m) => [m.pkh, { secret_key_file: m.file }])), policy: { baking: 1 } });
  const d = await startDaemon(['tezos', '--keys', keysFile, '--port', '0', '--no-http', '--state-dir', path.join(dir, 'state'), '--init-watermarks']);
  t.teardown(() => d.stop('SIGKILL'));
  for (const m of made) t.equal(await request(d.port, `pubkey ${m.pkh}`), m.public_key, `${m.pkh.slice(0, 3)} served from its key file`);
  t.equal(await d.stop('SIGTERM'), 0, 'SIGTERM: clean exit');
});

t.test('encrypted key with a passphrase file; seed bind_port', async (t) => {
  const dir = tempDir(t);
  const passFile = path.join(dir, 'pass');
  fs.writeFileSync(passFile, 'test1234\n', { mode: 0o600 });
  // The reference notes' encrypted tz3 vector (password test1234).
  const keysFile = writeKeys(dir, {
    keys: ['p2esk2TFqgNcoT4u99ut5doGTUFNwo9x4nNvkpM6YMLqXrt4SbFdQnqLM3hoAXLMB2uZYazj6LZGvcoYzk16H6Et'],
    policy: { baking: 1 },
    bind_addr: '127.0.0.1',
    bind_port: 0,
  });
  const d = await startDaemon(
    ['tezos', '--keys', keysFile, '--passphrase-file', passFile, '--port', '0', '--state-dir', path.join(dir, 'state'), '--init-watermarks'],
    {
      listeners: 2,
    },
  );
  t.teardown(() => d.stop('SIGKILL'));
  const res = await fetch(`http://127.0.0.1:${d.ports[1]}/keys/tz3hFR7NZtjT2QtzgMQnWb4xMuD6yt2YzXUt`);
  t.same(
    await res.json(),
    { public_key: 'p2pk65zwHGP9MdvANKkp267F4VzoKqL8DMNpPfTHUNKbm8S9DUqqdpw' },
    'decrypted key served on the seed-configured HTTP listener',
  );
  const noPass = await runSignerd(['tezos', '--keys', keysFile, '--port', '0', '--state-dir', path.join(dir, 'state')]);
  t.equal(noPass.code, 78, 'without the passphrase file: exit 78');
  t.match(noPass.stderr, /KEY_LOAD_FAILED/);
  t.notMatch(noPass.stderr, /test1234/, 'the passphrase never appears');
});

t.test('start-up refusals exit 78', async (t) => {
  const dir = tempDir(t);
  const loose = writeKeys(dir, seedKeys([TZ1]), 'loose.json');
  fs.chmodSync(loose, 0o644);
  const insecure = await runSignerd(['tezos', '--keys', loose, '--port', '0', '--state-dir', path.join(dir, 'state')]);
  t.equal(insecure.code, 78, 'group/other-readable keys.json with secrets: exit 78');
  t.match(insecure.stderr, /KEY_FILE_INSECURE/);
  t.notMatch(insecure.stderr, new RegExp(TZ1.sk), 'the secret is not echoed');
  const bad = writeKeys(dir, { keys: { [TZ1.pkh]: { secret_key: TZ1.sk } }, policy: { baking: 'yes' } }, 'bad.json');
  t.match(
    (await runSignerd(['tezos', '--keys', bad, '--port', '0', '--state-dir', path.join(dir, 'state')])).stderr,
    /CONFIG_INVALID/,
    'bad policy: CONFIG_INVALID',
  );
  const ok = writeKeys(dir, seedKeys([TZ1]), 'ok.json');
  t.equal((await runSignerd(['tezos', '--keys', ok, '--no-http', '--no-line'])).code, 78, 'nothing to serve: exit 78');
  const open = await runSignerd(['tezos', '--keys', ok, '--port', '0', '--http-port', '0', '--http-host', '0.0.0.0', '--state-dir', path.join(dir, 'state')]);
  t.equal(open.code, 78, 'plaintext HTTP beyond loopback: exit 78');
  t.notMatch(open.stdout, /"listening"/, 'and no listener was announced before the refusal');
});

/** Whether any 6 characters of a secret key past its 4-character prefix show in the text. */
function quotesSecret(text: string, secret: string): boolean {
  for (let i = 4; i + 6 <= secret.length; i++) if (text.includes(secret.slice(i, i + 6))) return true;
  return false;
}

t.test("octez's unencrypted: form is a secret key; no refusal quotes a secret (secrets probe)", async (t) => {
  const dir = tempDir(t);
  const run = (keys: string, more: string[] = []) =>
    runSignerd(['tezos', 'serve', '--keys', keys, '--state-dir', path.join(dir, 'state'), '--port', '0', '--http-port', '0', ...more]);
  // The probe's repro: no watermark store yet, so a refusal after the key loaded.
  const tagged = writeKeys(dir, { keys: { [`unencrypted:${TZ1.sk}`]: {} } }, 'tagged.json');
  const first = await run(tagged);
  t.equal(first.code, 78);
  t.match(first.stderr, /CONFIG_INVALID: no watermark store/, 'the key loaded; the start stopped at the watermark store');
  t.notOk(quotesSecret(first.stdout + first.stderr, TZ1.sk), 'neither stderr nor the log holds the key');
  const d = await startDaemon(['tezos', '--keys', tagged, '--port', '0', '--no-http', '--state-dir', path.join(dir, 'state'), '--init-watermarks']);
  t.teardown(() => d.stop('SIGKILL'));
  t.equal(await request(d.port, `pubkey ${TZ1.pkh}`), TZ1.pk, 'served');
  t.equal(await d.stop('SIGTERM'), 0);
  const refusals: Array<[string, unknown]> = [
    ['a secret in authorized_keys', { keys: { [TZ1.pkh]: { secret_key: TZ1.sk } }, authorized_keys: [TZ2.sk] }],
    ['a secret after a key hash', { keys: { [`${TZ1.pkh}:unencrypted:${TZ2.sk}`]: {} } }],
    ['a secret as a signer', { keys: { [TZ1.pkh]: { secret_key: TZ1.sk, signer: TZ2.sk } } }],
    ['a secret as a field name', { keys: { [TZ1.pkh]: { secret_key: TZ1.sk, [TZ2.sk]: 1 } } }],
    ['a secret as a public key', { keys: { [TZ1.pkh]: { secret_key: TZ1.sk, public_key: `unencrypted:${TZ2.sk}` } } }],
    ['a mistyped tagged secret', { keys: [`unencrypted:${TZ2.sk.slice(0, -1)}x`] }],
  ];
  for (const [label, config] of refusals) {
    const out = await run(writeKeys(dir, config, 'refused.json'));
    t.equal(out.code, 78, `${label}: exit 78`);
    t.match(out.stderr, /CONFIG_INVALID|KEY_LOAD_FAILED/, `${label}: ${out.stderr.trim()}`);
    t.notOk(quotesSecret(out.stdout + out.stderr, TZ1.sk) || quotesSecret(out.stdout + out.stderr, TZ2.sk), `${label}: no secret in stderr or the log`);
  }
});

t.test('a new, empty watermark store is said at warn, once: the start that has no record of earlier signatures', async (t) => {
  const dir = tempDir(t);
  const keysFile = writeKeys(dir, seedKeys([TZ1]));
  const args = ['--state-dir', path.join(dir, 'state')];
  const warned = (logs: Array<Record<string, unknown>>) =>
    logs.some((l) => l['level'] === 'warn' && /created a new, empty watermark store/.test(String(l['msg'])));
  const first = await serveTezos(t, keysFile, args);
  t.ok(warned(first.logs), 'the first start on a state directory says so');
  await first.stop();
  const again = await serveTezos(t, keysFile, args);
  t.notOk(warned(again.logs), 'a restart on the same store does not');
  await again.stop();
});

t.test('a --state-dir without a watermark store is refused unless the start says it is the first', async (t) => {
  const dir = tempDir(t);
  const keysFile = writeKeys(dir, seedKeys([TZ1]));
  const state = path.join(dir, 'state-typo');
  const refused = await runSignerd(['tezos', '--keys', keysFile, '--port', '0', '--no-http', '--state-dir', state]);
  t.equal(refused.code, 78, 'exit 78: started there, the signer would have no record of what its keys signed');
  t.match(refused.stderr, /CONFIG_INVALID: no watermark store at .*state-typo\/tezos-watermarks\.sqlite: .*--init-watermarks/);
  t.notOk(fs.existsSync(path.join(state, 'tezos-watermarks.sqlite')), 'nothing made');
  const init = await runSignerd(['tezos', 'watermark', 'init', '--state-dir', state]);
  t.equal(init.code, 0, init.stderr);
  t.equal(init.stdout, 'watermark store ready (empty)\n');
  const d = await startDaemon(['tezos', '--keys', keysFile, '--port', '0', '--no-http', '--state-dir', state]);
  t.teardown(() => d.stop());
  t.equal(await request(d.port, `pubkey ${TZ1.pkh}`), TZ1.pk, 'then the daemon starts on it, no flag needed');
});
