// HSM failures for the tezos daemon: start-up refusals (wrong PIN, tz4, a token key that is not the
// named one) exit 78 with one clear line; a token removed mid-run gives 503 / ERR, then signing resumes.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { startDaemon } from '../../helpers/daemon.js';
import { request } from '../../helpers/line-client.js';
import { needSoftHsm } from '../../helpers/softhsm.js';
import { http, httpSign, startTezos, tempDir, TZ1, TZ2, TZ4, writeKeys } from './fixtures.js';
import { retryUntil, until } from '../../helpers/polling.js';
import { hsmKeysConfig, tezosToken } from './hsm-fixtures.js';
import { consensus } from './payloads.js';
import { verifyTezosSignature } from '../../../daemons/tezos/keys/tezos-key.js';

t.test('tezos with HSM keys: failure modes', needSoftHsm(), async (t) => {
  const token = await tezosToken(t, 'tezos-fail');
  const dir = tempDir(t);

  /** Starts the daemon with `config`; resolves with the error message it exited with. */
  const startFails = async (config: unknown, name: string): Promise<string> => {
    const keysFile = writeKeys(dir, config, name);
    return startDaemon(['tezos', '--keys', keysFile, '--state-dir', `${dir}/state`, '--init-watermarks', '--port', '0', '--http-port', '0'], {
      listeners: 2,
      env: token.env,
    }).then(
      async (d) => {
        await d.stop();
        return 'started';
      },
      (e: Error) => e.message,
    );
  };

  t.test('wrong PIN: exit 78 with HSM_LOGIN_FAILED, the PIN not echoed', async (t) => {
    const wrongPin = path.join(token.dir, 'wrong-pin');
    fs.writeFileSync(wrongPin, 'not-the-pin-9876\n', { mode: 0o600 });
    const config = { keys: { [TZ1.pkh]: { pkcs11_uri: token.uri('baker-tz1').replace(token.pinFile, wrongPin) } } };
    const message = await startFails(config, 'wrong-pin.json');
    t.match(message, /exited 78/);
    t.match(message, /HSM_LOGIN_FAILED: .*keys\.tz1b9kV41KV9N3sp69ycLdSoZ2Ak8jXwtNPv: PKCS#11 token tezos-fail refused the login \(CKR_PIN_INCORRECT\)/);
    t.notMatch(message, 'not-the-pin-9876');
  });

  t.test('tz4 cannot be an HSM key: CONFIG_INVALID at start-up', async (t) => {
    const message = await startFails({ keys: { [TZ4.pkh]: { pkcs11_uri: token.uri('baker-tz1') } } }, 'tz4.json');
    t.match(message, /exited 78/);
    t.match(message, /CONFIG_INVALID: .*keys\.tz4\w+: tz4 \(BLS12-381\) keys cannot be held in a PKCS#11 HSM/);
  });

  t.test('the token key must be the key the entry names', async (t) => {
    const wrongCurve = await startFails({ keys: { [TZ2.pkh]: { pkcs11_uri: token.uri('baker-tz1') } } }, 'curve.json');
    t.match(wrongCurve, /exited 78/);
    t.match(wrongCurve, /KEY_LOAD_FAILED: .*keys\.tz2\w+: .*expected an EC secp256k1 key, got ed25519/);
    const otherKey = await startFails({ keys: { tz1RvhdZ5pcjD19vCCK9PgZpnmErTba3dsBs: { pkcs11_uri: token.uri('baker-tz1') } } }, 'other.json');
    t.match(otherKey, /exited 78/);
    t.match(otherKey, new RegExp(`CONFIG_INVALID: .*the token's key is ${TZ1.pkh} \\(${TZ1.pk}\\), not tz1RvhdZ5pcjD19vCCK9PgZpnmErTba3dsBs`));
    const noPin = await startFails({ keys: [`${TZ1.pk}:pkcs11_hsm:baker-tz1`], hsm_lib: '/usr/lib/softhsm/libsofthsm2.so', hsm_slot: 1 }, 'no-pin.json');
    t.match(noPin, /CONFIG_INVALID: .*pkcs11_hsm.*hsm_pin_file/, 'the seed shape without a PIN file is refused (HSM_PASSWORD is not read)');
    const withPin = await startFails({ keys: { [TZ1.pkh]: { pkcs11_uri: `${token.uri('baker-tz1')}&pin-value=${token.pin}` } } }, 'pin-value.json');
    t.match(withPin, /CONFIG_INVALID: pkcs11 URI: pin-value= is refused/);
    t.notMatch(withPin, token.pin, 'the PIN is not echoed');
  });

  t.test('token removed mid-run: 503 / ERR BACKEND_UNAVAILABLE, then signing resumes without restart', async (t) => {
    const keysFile = writeKeys(dir, hsmKeysConfig(token));
    const { daemon, linePort, httpPort } = await startTezos(t, keysFile, ['--state-dir', `${dir}/state-away`], token.env);
    t.equal((await httpSign(httpPort, TZ1.pkh, consensus('attestation', { level: 1, round: 0 }))).status, 200, 'signs while the token is present');

    const lost = consensus('attestation', { level: 2, round: 0 });
    token.remove();
    try {
      const away = await httpSign(httpPort, TZ1.pkh, lost);
      t.equal(away.status, 503, 'HTTP 503 while the token is gone');
      t.match(away.body, [{ kind: 'temporary', id: 'failure' }], 'octez error array, temporary');
      t.equal(away.code, 'BACKEND_UNAVAILABLE', 'the signerd code in its header');
      const line = await request(linePort, `sign ${TZ2.pkh} ${consensus('attestation', { level: 2, round: 0 }).toString('hex')}`);
      t.match(line, /^ERR BACKEND_UNAVAILABLE /, `line protocol: ${line.slice(0, 60)}`);
      t.equal((await http(httpPort, 'GET', `/keys/${TZ1.pkh}`)).status, 200, 'public keys still answer');
    } finally {
      token.restore();
    }
    // The token is reopened at most once a second; poll (bounded) with a fresh level each time,
    // since every attempt reserves its slot before the HSM is asked.
    let level = 10;
    const back = await retryUntil(
      () => httpSign(httpPort, TZ1.pkh, consensus('attestation', { level: ++level, round: 0 })),
      (r) => r.status === 200,
      15_000,
      250,
    );
    t.equal(back.status, 200, 'signing resumed');
    t.ok(
      back.signature !== null && verifyTezosSignature(TZ1.pk, consensus('attestation', { level, round: 0 }), back.signature),
      'the resumed signature verifies',
    );
    // tz2's key has a token connection of its own, whose last reopen (during the outage) may be
    // under a second old: it reopens at its next turn, so poll it the same way.
    let tz2Level = 2;
    const tz2Back = await retryUntil(
      () => request(linePort, `sign ${TZ2.pkh} ${consensus('attestation', { level: ++tz2Level, round: 0 }).toString('hex')}`),
      (r) => r.startsWith('spsig1'),
      15_000,
      250,
    );
    t.match(tz2Back, /^spsig1/, 'tz2 over the line protocol too');
    const retry = await httpSign(httpPort, TZ1.pkh, lost);
    t.equal(retry.status, 409, 'the slot reserved before the failed HSM call is never signed later');
    t.equal(daemon.proc.exitCode, null, 'the same process kept serving');
    t.ok(
      await until(() => daemon.logs.some((l) => l['msg'] === 'HSM token reopened'), 2_000), // the log line may reach us after the reply
      'the reopen is logged',
    );
  });
});
