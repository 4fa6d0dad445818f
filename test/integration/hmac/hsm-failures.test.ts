// HSM-backed hmac under failure: wrong PIN, missing object, all-zero secret and refused
// configurations exit 78 with one clear line; a token removed mid-run gives ERR BACKEND_UNAVAILABLE
// and HTTP 503, and tags come back without a restart when the token returns.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { runSignerd } from '../../helpers/daemon.js';
import { request } from '../../helpers/line-client.js';
import { createToken, needSoftHsm } from '../../helpers/softhsm.js';
import { needTools } from '../../helpers/tools.js';
import { singleDir, writeSecret } from '../../unit/hmac/secret-fixtures.js';
import { referenceTags } from './hmac-fixtures.js';
import { curlPost, importSecret, startFails, startHsmHmac } from './hsm-fixtures.js';
import { retryUntil, sleep, until } from '../../helpers/polling.js';

const base = t.testdir();

t.test('HSM-backed hmac failure modes', { ...needSoftHsm(), ...needTools('python3', 'curl') }, async (t) => {
  const token = createToken('hmac-fail');
  t.teardown(() => token.cleanup());
  const dir = singleDir(path.join(base, 'single'));
  await importSecret(token, 'hmac-secret', path.join(dir, 'secret'));

  t.test('start-up refusals: exit 78, one clear line, no PIN', async (t) => {
    const wrongPin = path.join(base, 'wrong-pin');
    fs.writeFileSync(wrongPin, 'not-the-pin-5150\n', { mode: 0o600 });
    const wrong = await startFails(token, ['--secret', token.uri('hmac-secret').replace(token.pinFile, wrongPin)]);
    t.match(wrong, /exited 78/);
    t.match(wrong, /signerd hmac: HSM_LOGIN_FAILED: PKCS#11 token hmac-fail refused the login \(CKR_PIN_INCORRECT\); check the PIN file/);
    t.notMatch(wrong, 'not-the-pin-5150');

    const missing = await startFails(token, ['--secret', token.uri('no-such-secret')]);
    t.match(missing, /exited 78/);
    t.match(missing, /KEY_LOAD_FAILED: no secret key object=no-such-secret on the token/);

    writeSecret(path.join(base, 'zero', 'secret'), Buffer.alloc(32));
    await importSecret(token, 'zero-secret', path.join(base, 'zero', 'secret'));
    t.match(
      await startFails(token, ['--secret', token.uri('zero-secret')]),
      /KEY_LOAD_FAILED: pkcs11:token=hmac-fail;object=zero-secret: the secret is all zero bytes/,
    );

    t.match(
      await startFails(token, ['--mode', 'mode16', '--secret', token.uri('hmac-secret')]),
      /CONFIG_INVALID: --secret with --mode mode16: the seed's key tables stay in files/,
    );
    t.match(await startFails(token, ['--secret', path.join(dir, 'secret')]), /CONFIG_INVALID: --secret takes a pkcs11: URI/);
    t.match(await startFails(token, ['--secret', `${token.uri('hmac-secret')}&pin-value=${token.pin}`]), /CONFIG_INVALID: pkcs11 URI: pin-value= is refused/);
  });

  t.test('--help documents --secret', async (t) => {
    const help = await runSignerd(['hmac', '--help']);
    t.match(help.stdout, /--secret <pkcs11-uri>/);
  });

  t.test('token removed mid-run: BACKEND_UNAVAILABLE and 503, then tags resume without restart', async (t) => {
    const daemon = await startHsmHmac(token, ['--secret', token.uri('hmac-secret')], true);
    t.teardown(() => daemon.stop());
    const expected = referenceTags('single', dir, [Buffer.from('hello world')])[0]!.tag;
    const bodyFile = path.join(base, 'hello.txt');
    fs.writeFileSync(bodyFile, 'hello world');
    const url = `http://127.0.0.1:${daemon.ports[2]}/hmac`;
    t.equal(await request(daemon.port, 'hello world'), expected, 'tags while the token is present');

    token.remove();
    try {
      for (let i = 0; i < 3; i++) t.match(await request(daemon.port, `while away ${i}`), /^ERR BACKEND_UNAVAILABLE /, `MAC ${i}`);
      t.match(await request(daemon.ports[1]!, `${expected} hello world`), /^ERR BACKEND_UNAVAILABLE /, 'verify: an error, never Invalid.');
      const posted = curlPost(url, bodyFile);
      t.equal(posted.status, 503, 'HTTP 503');
      t.match(Buffer.from(posted.bodyHex, 'hex').toString(), /^ERR BACKEND_UNAVAILABLE /);
    } finally {
      token.restore();
    }
    // Reopens happen at most once a second: poll (bounded) rather than assume a timing.
    const reply = await retryUntil(
      () => request(daemon.port, 'hello world'),
      (r) => r === expected,
      15_000,
      250,
    );
    t.equal(reply, expected, 'MAC resumed with the same tag');
    t.equal(await request(daemon.ports[1]!, `${expected} hello world`), 'Valid.', 'verify resumed');
    t.equal(curlPost(url, bodyFile).bodyHex, expected, 'HTTP resumed');
    t.equal(daemon.proc.exitCode, null, 'the same process kept serving');
    t.ok(
      await until(() => daemon.logs.some((l) => l['msg'] === 'HSM token reopened'), 2_000), // the log line may reach us after the reply
      'the reopen is logged',
    );
    t.notOk(JSON.stringify(daemon.logs).includes(token.pin), 'no PIN in logs');
  });

  t.test('SIGHUP while the token is away fails and keeps the old set', async (t) => {
    const daemon = await startHsmHmac(token, ['--secret', token.uri('hmac-secret')]);
    t.teardown(() => daemon.stop());
    const expected = referenceTags('single', dir, [Buffer.from('x')])[0]!.tag;
    token.remove();
    try {
      const from = daemon.logs.length;
      daemon.proc.kill('SIGHUP');
      await until(() => daemon.logs.slice(from).some((l) => l['msg'] === 'reload failed; keeping the previous configuration'), 5_000, 50);
      t.ok(
        daemon.logs.slice(from).some((l) => l['msg'] === 'reload failed; keeping the previous configuration'),
        'reload failed is logged',
      );
    } finally {
      token.restore();
    }
    const reply = await retryUntil(
      () => request(daemon.port, 'x'),
      (r) => r === expected,
      15_000,
      250,
    );
    t.equal(reply, expected, 'the old set serves again once the token is back');
  });

  t.test('a different secret put under the label is never used; SIGHUP takes it', async (t) => {
    const dirA = singleDir(path.join(base, 'swap-a'));
    const dirB = singleDir(path.join(base, 'swap-b'));
    await importSecret(token, 'hmac-swap', path.join(dirA, 'secret'));
    const tagOf = (secretDir: string): string => referenceTags('single', secretDir, [Buffer.from('hello world')])[0]!.tag;
    const daemon = await startHsmHmac(token, ['--secret', token.uri('hmac-swap')]);
    t.teardown(() => daemon.stop());
    t.equal(await request(daemon.port, 'hello world'), tagOf(dirA), 'tags with the secret opened');
    token.pkcs11Tool(['--delete-object', '--type', 'secrkey', '--label', 'hmac-swap']);
    await importSecret(token, 'hmac-swap', path.join(dirB, 'secret'));
    const replies: string[] = [];
    for (let i = 0; i < 8; i++) {
      replies.push(await request(daemon.port, 'hello world'));
      await sleep(300);
    }
    t.notOk(replies.includes(tagOf(dirB)), 'no tag made with the other secret');
    t.ok(
      replies.slice(1).every((r) => r.startsWith('ERR BACKEND_UNAVAILABLE ')),
      `refused while it is there: ${JSON.stringify([...new Set(replies)])}`,
    );
    t.ok(
      replies.some((r) => r.includes('different secret')),
      'and says why',
    );
    const from = daemon.logs.length;
    daemon.proc.kill('SIGHUP');
    await until(() => daemon.logs.slice(from).some((l) => l['msg'] === 'reloaded'), 5_000, 50);
    t.equal(await request(daemon.port, 'hello world'), tagOf(dirB), 'after SIGHUP, the new secret is the one');
  });
});
