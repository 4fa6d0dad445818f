// HSM failures at the wire: a wrong PIN, a missing object, a module others may write and token
// attributes that do not match stop start-up with one clear line and exit 78; a token removed mid-run
// gives ERR BACKEND_UNAVAILABLE, and signing resumes by itself when it returns; a PIN refused on that
// reopen is tried once, never again.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { runSignerd, startDaemon } from '../../helpers/daemon.js';
import { request } from '../../helpers/line-client.js';
import { createToken, needSoftHsm, SOFTHSM_MODULE } from '../../helpers/softhsm.js';
import { opensslVerifies, signaturesOf } from '../../helpers/signature-fixtures.js';
import { retryUntil, sleep, until } from '../../helpers/polling.js';

t.test('HSM failure modes', needSoftHsm(), async (t) => {
  const token = createToken('fail-test');
  const stateDir = path.join(token.dir, 'state');
  t.teardown(() => token.cleanup());
  const publicKeyFile = path.join(token.dir, 'ec-pub.pem');
  const made = await runSignerd(['hsm', 'generate', '--key', token.uri('ec'), '--for', 'sign-ecdsa', '--public-out', publicKeyFile], '', token.env);
  t.equal(made.code, 0, made.stderr);
  const startFails = async (uri: string, daemon = 'sign-ecdsa'): Promise<string> => {
    const err = await startDaemon([daemon, '--key', uri, '--state-dir', stateDir, '--port', '0'], { env: token.env }).then(
      async (d) => {
        await d.stop();
        return 'started';
      },
      (e: Error) => e.message,
    );
    return err;
  };

  t.test('wrong PIN: exit 78 with HSM_LOGIN_FAILED, PIN not echoed', async (t) => {
    const wrongPin = path.join(token.dir, 'wrong-pin');
    fs.writeFileSync(wrongPin, 'not-the-pin-9876\n', { mode: 0o600 });
    const uri = token.uri('ec').replace(token.pinFile, wrongPin);
    const message = await startFails(uri);
    t.match(message, /exited 78/);
    t.match(message, /HSM_LOGIN_FAILED: PKCS#11 token fail-test refused the login \(CKR_PIN_INCORRECT\)/);
    t.notMatch(message, 'not-the-pin-9876');
  });

  t.test('PIN file readable by others: exit 78 with KEY_FILE_INSECURE', async (t) => {
    const loose = path.join(token.dir, 'loose-pin');
    fs.writeFileSync(loose, token.pin, { mode: 0o644 });
    fs.chmodSync(loose, 0o644);
    const message = await startFails(token.uri('ec').replace(token.pinFile, loose));
    t.match(message, /exited 78/);
    t.match(message, /KEY_FILE_INSECURE/);
  });

  t.test('a module others may write: exit 78 with KEY_FILE_INSECURE, daemons and admin commands alike', async (t) => {
    const loose = path.join(token.dir, 'loose-module.so');
    fs.copyFileSync(SOFTHSM_MODULE, loose);
    fs.chmodSync(loose, 0o666);
    const uri = token.uri('ec').replace(SOFTHSM_MODULE, loose);
    const refused = /KEY_FILE_INSECURE: PKCS#11 module \S+loose-module\.so has mode 0666; it must not be writable by group or others/;
    const message = await startFails(uri);
    t.match(message, /exited 78/);
    t.match(message, refused);
    t.notMatch(message, token.pin);
    for (const args of [
      ['hsm', 'list', '--token', token.tokenUri().replace(SOFTHSM_MODULE, loose)],
      ['tezos', 'hsm-key', '--key', uri],
    ]) {
      const ran = await runSignerd(args, '', token.env);
      t.equal(ran.code, 78, args.slice(0, 2).join(' '));
      t.match(ran.stderr, refused);
    }
  });

  t.test('a PIN in the URI is refused', async (t) => {
    const message = await startFails(`${token.uri('ec')}&pin-value=${token.pin}`);
    t.match(message, /exited 78/);
    t.match(message, /CONFIG_INVALID: pkcs11 URI: pin-value= is refused/);
  });

  t.test('missing object: exit 78 with KEY_LOAD_FAILED naming it', async (t) => {
    const message = await startFails(token.uri('no-such-key'));
    t.match(message, /exited 78/);
    t.match(message, /KEY_LOAD_FAILED: no private key object=no-such-key on the token/);
  });

  t.test('RSA under 2048 bits: not generated, not imported, and not signed with when a token holds one', async (t) => {
    const generated = await runSignerd(['hsm', 'generate', '--key', token.uri('weak-generated'), '--for', 'sign-rsa', '--bits', '1024'], '', token.env);
    t.equal(generated.code, 78);
    t.match(generated.stderr, /^signerd hsm generate: CONFIG_INVALID: --bits: from 2048 to 16384, got 1024\n$/);
    const weakFile = path.join(token.dir, 'rsa-1024.pem');
    fs.writeFileSync(weakFile, crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    const imported = await runSignerd(['hsm', 'import', '--key', token.uri('weak-imported'), '--for', 'sign-rsa', '--from', weakFile], '', token.env);
    t.equal(imported.code, 78);
    t.match(imported.stderr, /KEY_LOAD_FAILED: an RSA-1024 key is too small \(RSA keys need 2048 bits or more\)/);
    t.notMatch(token.pkcs11Tool(['--list-objects']), /weak-/, 'nothing was left on the token');
    // Put there by another tool: the daemon still refuses it.
    token.pkcs11Tool(['--keypairgen', '--key-type', 'rsa:1024', '--label', 'weak-foreign', '--id', 'a1']);
    const message = await startFails(token.uri('weak-foreign'), 'sign-rsa');
    t.match(message, /exited 78/);
    t.match(message, /KEY_LOAD_FAILED: .*an RSA-1024 key is too small/);
  });

  t.test('missing token: exit 78 naming the tokens present', async (t) => {
    const message = await startFails(token.uri('ec').replace('token=fail-test', 'token=elsewhere'));
    t.match(message, /exited 78/);
    t.match(message, /KEY_LOAD_FAILED: .*no token matches the URI \(tokens present: "fail-test"/);
  });

  t.test('token attributes and library attributes in the URI must match (RFC 7512)', async (t) => {
    const model = await startFails(token.uri('ec', ';model=Nonexistent'));
    t.match(model, /exited 78/);
    t.match(model, /KEY_LOAD_FAILED: .*no token matches the URI \(tokens present: "fail-test" model="SoftHSM v2"[,)]/);
    const maker = await startFails(token.uri('ec', ';manufacturer=Someone%20Else'));
    t.match(maker, /KEY_LOAD_FAILED: .*no token matches the URI \(tokens present: "fail-test" manufacturer="SoftHSM project"[,)]/);
    const library = await startFails(token.uri('ec', ';library-manufacturer=Nobody'));
    t.match(library, /exited 78/);
    t.match(library, /KEY_LOAD_FAILED: .*the module does not match the URI \(it has library-manufacturer "SoftHSM"\)/);
    const matching = ';manufacturer=SoftHSM%20project;model=SoftHSM%20v2;library-manufacturer=SoftHSM;library-description=Implementation%20of%20PKCS11';
    t.equal(await startFails(token.uri('ec', matching)), 'started', 'matching attributes open the key');
  });

  t.test('token removed mid-run, then returned: error lines, then signing resumes without restart', async (t) => {
    const signer = await startDaemon(['sign-ecdsa', '--key', token.uri('ec'), '--state-dir', stateDir, '--port', '0', '--keep-open'], { env: token.env });
    t.teardown(() => signer.stop());
    t.ok(signaturesOf(await request(signer.port, 'before')).length === 1, 'signs while the token is present');

    token.remove();
    try {
      for (let i = 0; i < 3; i++) {
        const reply = await request(signer.port, `while away ${i}`);
        t.match(reply, /^ERR BACKEND_UNAVAILABLE /, `away ${i}: ${reply}`);
        t.equal(signaturesOf(reply).length, 0, 'no signature while the token is gone');
        // The module path is the operator's (in the log), not the client's: replies name no file.
        t.notMatch(reply, /module|libsofthsm|\.so\b/, `away ${i}: no module path`);
      }
      // Past the reopen interval: this request reinitialises the module itself, and C_Initialize
      // fails while the token directory is gone. The reply says so without the module's path; the
      // log names it for the operator.
      // (Polled: a readiness probe may take the reopen first; then the next one is a second later.)
      const reopenFailed = await retryUntil(
        async (i) => {
          const reply = await request(signer.port, `while away, reopening ${i}`);
          t.notMatch(reply, /module|libsofthsm|\.so\b/, `no module path in the reply: ${reply}`);
          return reply;
        },
        (r) => /C_Initialize/.test(r),
        5_000,
        250,
      );
      t.match(reopenFailed, /^ERR BACKEND_UNAVAILABLE HSM token unavailable \(C_Initialize failed \(CKR_[A-Z_]+\)\)$/);
      t.ok(
        await until(() => signer.logs.some((l) => l['msg'] === 'HSM token reopen failed; will retry' && l['module'] === SOFTHSM_MODULE), 2_000),
        'the log names the module',
      );
    } finally {
      token.restore();
    }
    // The pool reopens at most once a second; poll (bounded) rather than assume a timing.
    const reply = await retryUntil(
      () => request(signer.port, 'after'),
      (r) => signaturesOf(r).length > 0,
      15_000,
      250,
    );
    const [sig] = signaturesOf(reply);
    t.ok(sig, `signing resumed: ${reply.slice(0, 80)}`);
    t.ok(opensslVerifies(token.dir, 'ecdsa', publicKeyFile, Buffer.from('after'), sig ?? ''), 'the resumed signature verifies');
    t.equal(signer.proc.exitCode, null, 'the same process kept serving');
    t.ok(
      await until(() => signer.logs.some((l) => l['msg'] === 'HSM token reopened'), 2_000), // the log line may reach us after the reply
      'the reopen is logged',
    );

    // A second key of the same label made meanwhile: at the next reopen the lookup finds two. That is
    // the token's state, not the daemon's configuration: retryable BACKEND_UNAVAILABLE, never CONFIG_INVALID.
    token.pkcs11Tool(['--keypairgen', '--key-type', 'EC:secp384r1', '--label', 'ec', '--id', '99']);
    token.remove();
    try {
      t.match(await request(signer.port, 'away again'), /^ERR BACKEND_UNAVAILABLE /);
    } finally {
      token.restore();
    }
    const twice = await retryUntil(
      () => request(signer.port, 'two keys'),
      (r) => /more than one/.test(r),
      15_000,
      250,
    );
    t.match(twice, /^ERR BACKEND_UNAVAILABLE more than one private key object=ec on the token; add id= to the URI$/, 'retryable, naming the cause');
    token.pkcs11Tool(['--delete-object', '--type', 'privkey', '--id', '99']);
    token.pkcs11Tool(['--delete-object', '--type', 'pubkey', '--id', '99']);
    const resumed = await retryUntil(
      () => request(signer.port, 'one key again'),
      (r) => signaturesOf(r).length > 0,
      15_000,
      250,
    );
    t.equal(signaturesOf(resumed).length, 1, 'signing resumes by itself once the extra key is gone');
  });
  t.test('token swapped for one of the same label without the key, then put back: signing resumes', async (t) => {
    const signer = await startDaemon(['sign-ecdsa', '--key', token.uri('ec'), '--state-dir', stateDir, '--port', '0', '--keep-open'], { env: token.env });
    t.teardown(() => signer.stop());
    t.equal(signaturesOf(await request(signer.port, 'before')).length, 1, 'signs');
    const tokens = path.join(token.dir, 'tokens');
    token.remove();
    try {
      fs.mkdirSync(tokens, { mode: 0o700 });
      execFileSync('softhsm2-util', ['--init-token', '--free', '--label', token.label, '--so-pin', 'so-12345678', '--pin', token.pin], {
        env: { ...process.env, ...token.env },
        stdio: 'ignore',
      });
      const reply = await retryUntil(
        () => request(signer.port, 'swapped'),
        (r) => r.startsWith('ERR BACKEND_UNAVAILABLE'),
        5_000,
        250,
      );
      t.match(reply, /^ERR BACKEND_UNAVAILABLE /, 'the stand-in token has no such key: refused');
    } finally {
      fs.rmSync(tokens, { recursive: true, force: true });
      token.restore();
    }
    const reply = await retryUntil(
      () => request(signer.port, 'after the swap'),
      (r) => signaturesOf(r).length > 0,
      15_000,
      250,
    );
    t.equal(signaturesOf(reply).length, 1, `signing resumed with the real token back: ${reply.slice(0, 80)}`);
  });

  t.test('PIN changed while running, then a reopen: refused once, no further logins, still answering', async (t) => {
    const pinToken = createToken('pin-test');
    t.teardown(() => pinToken.cleanup());
    const made = await runSignerd(['hsm', 'generate', '--key', pinToken.uri('ec'), '--for', 'sign-ecdsa'], '', pinToken.env);
    t.equal(made.code, 0, made.stderr);
    const args = ['sign-ecdsa', '--key', pinToken.uri('ec'), '--state-dir', path.join(pinToken.dir, 'state'), '--port', '0', '--keep-open'];
    const signer = await startDaemon(args, { env: pinToken.env });
    t.teardown(() => signer.stop());
    t.equal(signaturesOf(await request(signer.port, 'before')).length, 1, 'signs');

    pinToken.changePin('changed-0815');
    t.equal(signaturesOf(await request(signer.port, 'logged in')).length, 1, 'a PIN change alone leaves the login in place');
    // Losing the token forces a reopen, and with it a new login with the (now wrong) PIN file.
    pinToken.remove();
    t.match(await request(signer.port, 'away'), /^ERR BACKEND_UNAVAILABLE [^\n]+$/);
    pinToken.restore();
    const refused = /^ERR BACKEND_UNAVAILABLE HSM token refused the PIN after a reopen; fix the PIN file and restart$/;
    const reply = await retryUntil(
      async (i) => {
        const answer = await request(signer.port, `back ${i}`);
        t.match(answer, /^ERR BACKEND_UNAVAILABLE [^\n]+$/, `one error line: ${answer}`);
        return answer;
      },
      (r) => refused.test(r),
      10_000,
      250,
    );
    t.match(reply, refused, 'the refusal names the fix');
    await sleep(1_200); // past the reopen interval: a retrying pool would log in again now
    for (let i = 0; i < 3; i++) t.match(await request(signer.port, `later ${i}`), refused, `later ${i}: refused without a login`);
    pinToken.changePin(pinToken.pin, 'changed-0815');
    t.match(await request(signer.port, 'pin back'), refused, 'no retry even once the PIN is right again: an operator restarts');
    const logins = signer.logs.filter((l) => l['msg'] === 'HSM token refused the PIN on reopen; not retrying');
    t.same(
      logins.map((l) => l['ckr']),
      ['CKR_PIN_INCORRECT'],
      'exactly one login was refused',
    );
    t.equal(signer.proc.exitCode, null, 'the process kept serving');
    t.equal(await signer.stop(), 0, 'SIGTERM still drains and exits 0');

    const restarted = await startDaemon(args, { env: pinToken.env });
    t.teardown(() => restarted.stop());
    t.equal(signaturesOf(await request(restarted.port, 'after restart')).length, 1, 'a restart with the right PIN signs');
  });
});
