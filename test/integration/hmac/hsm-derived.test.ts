// `signerd hmac --mode derived --secret pkcs11:...;object=<prefix>`: the token holds each version's
// HKDF PRK (made from master-v<N> by openssl), and tags equal the file-based derived daemon's and
// the Python reference's; retired versions verify; a new version is picked up on SIGHUP.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { request } from '../../helpers/line-client.js';
import { createToken, needSoftHsm } from '../../helpers/softhsm.js';
import { needTools } from '../../helpers/tools.js';
import { derivedDir } from '../../unit/hmac/secret-fixtures.js';
import { randomMessage, referenceTags, startHmac, waitForLog } from './hmac-fixtures.js';
import { importSecret, opensslPrk, startFails, startHsmHmac } from './hsm-fixtures.js';
import { retryUntil } from '../../helpers/polling.js';

const base = t.testdir();

t.test('derived mode with the PRKs in an HSM', { ...needSoftHsm(), ...needTools('python3', 'openssl') }, async (t) => {
  const token = createToken('hmac-derived');
  t.teardown(() => token.cleanup());
  const dir = derivedDir(path.join(base, 'masters'), [1, 2]);
  const importVersion = async (v: number): Promise<void> =>
    importSecret(token, `hmac-prk-v${v}`, opensslPrk(path.join(dir, `master-v${v}`), path.join(base, 'prk', `prk-v${v}`)));
  await importVersion(1);
  await importVersion(2);

  const hsm = await startHsmHmac(token, ['--mode', 'derived', '--secret', token.uri('hmac-prk'), '--reply', 'json']);
  const file = await startHmac(['--mode', 'derived', '--secret-dir', dir, '--reply', 'json']);
  t.teardown(async () => {
    await hsm.stop();
    await file.stop();
  });
  t.match(
    hsm.logs.find((l) => l['msg'] === 'secrets loaded'),
    { mode: 'derived', backend: 'pkcs11', keyVersion: 2, acceptedVersions: [1] },
  );

  const messages = [Buffer.from('hello world'), randomMessage(300, 3), randomMessage(1000, 4)];
  for (const message of messages) {
    const reply = JSON.parse(await request(hsm.port, message)) as { keyVersion: number; tags: string[]; keyIds: string[] };
    t.same(reply, JSON.parse(await request(file.port, message)), `${message.length} bytes: same reply as the file-based daemon`);
    t.equal(reply.keyVersion, 2);
    t.same(reply.tags, [referenceTags('derived', dir, [message], 2)[0]!.tag], `${message.length} bytes: the Python reference agrees`);
  }

  const v1 = referenceTags('derived', dir, [Buffer.from('hello world')], 1)[0]!.tag;
  const v2 = referenceTags('derived', dir, [Buffer.from('hello world')], 2)[0]!.tag;
  const verify = hsm.ports[1]!;
  t.same(JSON.parse(await request(verify, `${v2} hello world`)), { valid: true, mode: 'derived', keyVersion: 2 });
  t.same(JSON.parse(await request(verify, `${v1} hello world`)), { valid: true, mode: 'derived', keyVersion: 1 }, 'retired v1 still verifies');
  t.same(JSON.parse(await request(verify, `${v2} hello world?`)), { valid: false, reason: 'mismatch' });
  t.same(JSON.parse(await request(verify, `${v2.slice(2)} hello world`)), { valid: false, reason: 'wrong-length' });

  t.test('SIGHUP: a new version on the token becomes current', async (t) => {
    derivedDir(dir, [3]);
    await importVersion(3);
    const from = hsm.logs.length;
    hsm.proc.kill('SIGHUP');
    t.match(await waitForLog(hsm, 'secrets reloaded', from, 10_000), { keyVersion: 3, acceptedVersions: [1, 2] });
    const v3 = referenceTags('derived', dir, [Buffer.from('hello world')], 3)[0]!.tag;
    t.same(JSON.parse(await request(hsm.port, 'hello world')).tags, [v3], 'new tags use v3');
    t.same(JSON.parse(await request(verify, `${v1} hello world`)), { valid: true, mode: 'derived', keyVersion: 1 });
  });

  t.test('token removed mid-run: the key of every version reopens', async (t) => {
    const expected = JSON.parse(await request(hsm.port, 'hello world')).tags[0] as string;
    token.remove();
    try {
      t.match(await request(hsm.port, 'hello world'), /"code":"BACKEND_UNAVAILABLE"/, 'MAC: BACKEND_UNAVAILABLE');
      t.match(await request(verify, `${v1} hello world`), /"code":"BACKEND_UNAVAILABLE"/, 'verify: BACKEND_UNAVAILABLE, not invalid');
    } finally {
      token.restore();
    }
    const verdict = await retryUntil(
      () => request(verify, `${v1} hello world`),
      (v) => v.includes('"valid":true'),
      15_000,
      250,
    );
    t.same(JSON.parse(verdict), { valid: true, mode: 'derived', keyVersion: 1 }, 'verify over all versions resumed');
    t.same(JSON.parse(await request(hsm.port, 'hello world')).tags, [expected], 'MAC resumed with the same tag');
    t.equal(hsm.proc.exitCode, null, 'no restart');
  });

  t.test('pinned versions and refusals', async (t) => {
    // Also from a --config file: the URI (with its pin-source path, never a PIN) need not be in argv.
    const config = path.join(base, 'pinned.json');
    fs.writeFileSync(config, JSON.stringify({ mode: 'derived', secret: token.uri('hmac-prk'), keyVersion: 1, acceptVersions: 'none' }));
    const pinned = await startHsmHmac(token, ['--config', config]);
    t.teardown(() => pinned.stop());
    t.equal(await request(pinned.port, 'hello world'), v1, '--key-version 1');
    t.equal(await request(pinned.ports[1]!, `${v2} hello world`), 'Invalid.', '--accept-versions none');
    t.match(
      await startFails(token, ['--mode', 'derived', '--secret', token.uri('nothing')]),
      /KEY_LOAD_FAILED: derived mode: no secret key labelled nothing-v<N> on pkcs11:token=hmac-derived/,
    );
    t.match(
      await startFails(token, ['--mode', 'derived', '--secret', token.uri('hmac-prk'), '--key-version', '9']),
      /KEY_LOAD_FAILED: no secret key object=hmac-prk-v9 on the token/,
    );
    t.match(
      await startFails(token, ['--mode', 'derived', '--secret', token.uri('hmac-prk', ';id=%01')]),
      /CONFIG_INVALID: --mode derived --secret: name the PRK objects by label prefix only/,
    );
  });
});
