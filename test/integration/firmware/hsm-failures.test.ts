// HSM trouble for the firmware daemon: a token removed mid-run gives ERR BACKEND_UNAVAILABLE (HTTP 503)
// and /readyz 503 naming each HSM key while the daemon keeps serving, and readiness and signing come
// back by themselves when it returns; bad `.pkcs11` references stop start-up with one clear line and exit 78.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { request } from '../../helpers/line-client.js';
import { createToken, needSoftHsm } from '../../helpers/softhsm.js';
import { needTools } from '../../helpers/tools.js';
import { retryUntil, until } from '../../helpers/polling.js';
import { get, metricsPortOf, sample, waitUntil } from '../../helpers/operations.js';
import { curlPost } from './http-fixtures.js';
import { importKeyRoot, startFailure, startHsmFirmware } from './hsm-fixtures.js';
import { DISTRO, MACHINE, okValue, readVector, RSA_MENDER_DISTRO } from './line-fixtures.js';

const skip = needSoftHsm().skip ?? needTools('openssl', 'curl').skip;

t.test('firmware daemon and HSM failures', skip ? { skip } : {}, async (t) => {
  const dir = t.testdir({});
  const token = createToken('fw-fail');
  t.teardown(() => token.cleanup());
  const { hsmRoot } = await importKeyRoot(dir, token);
  const dummy = readVector('module/dummy.ko');
  const moduleLine = `MODULE ${MACHINE} sha512 ${crypto.createHash('sha512').update(dummy).digest('hex')}`;

  t.test('token removed mid-run: ERR lines, HTTP and /readyz 503, the daemon keeps serving; then ready and signing again unrestarted', async (t) => {
    const daemon = await startHsmFirmware(hsmRoot, token, ['--metrics-port', '0'], 2);
    t.teardown(() => daemon.stop());
    const ops = metricsPortOf(daemon);
    const readyz = async () => {
      const r = await get(ops, '/readyz');
      return { status: r.status, ...(JSON.parse(r.body) as { parts: Record<string, boolean>; notReady?: Record<string, string> }) };
    };
    await waitUntil(async () => (await readyz()).status === 200, 5_000, 'ready');
    const kmodKey = `key ${/key-id=([0-9a-f]+)/.exec(await request(daemon.port, `KEYINFO ${MACHINE} kmodsign`))![1]}`;
    const keyParts = Object.keys((await readyz()).parts).filter((p) => /^key [0-9a-f]+$/.test(p));
    t.ok(keyParts.includes(kmodKey), `the kmodsign key is a part (${kmodKey})`);
    t.equal(keyParts.length, 9, 'one part per HSM key of the root (8 imported keys and the EC CMS key)');
    const kmodInfo = { key_id: kmodKey.slice('key '.length), algorithm: 'rsa-2048', backend: 'pkcs11' };
    t.equal(sample((await get(ops, '/metrics')).body, 'signerd_key_info', kmodInfo), 1, 'signerd_key_info: the kmodsign key, held in the HSM');
    const httpUrl = `http://127.0.0.1:${daemon.ports[1]}`;
    fs.writeFileSync(path.join(dir, 'sw-description'), readVector('swupdate/sw-description'));
    const postSwupdate = () =>
      curlPost(`${httpUrl}/sign/swupdate`, ['-F', 'sw-description=@sw-description', '-F', `distro=${DISTRO}`, '-F', 'method=RSA'], { cwd: dir });
    t.equal(okValue(await request(daemon.port, moduleLine)), readVector('module/dummy.ko.sha512.p7s').toString('base64'), 'signs while the token is there');
    t.equal(postSwupdate().status, 200, 'HTTP signs too');

    token.remove();
    try {
      for (const line of [
        moduleLine,
        `MENDER-DIGEST ${RSA_MENDER_DISTRO} ${'ab'.repeat(32)}`,
        `OPTEE ${MACHINE} PSS ${'cd'.repeat(32)}`,
        `SWUPDATE-DIGEST ${DISTRO} CMS ${'ef'.repeat(32)}`,
      ]) {
        t.match(await request(daemon.port, line), /^ERR BACKEND_UNAVAILABLE /, `${line.split(' ')[0]} while the token is away`);
      }
      t.equal(postSwupdate().status, 503, 'HTTP answers 503 while the token is away');
      t.equal(await request(daemon.port, 'PING'), 'OK PONG', 'the daemon keeps serving');
      t.match(await request(daemon.port, `KEYINFO ${MACHINE} kmodsign`), /^OK type=rsa bits=2048 /, 'key facts need no HSM call');
      // The failed requests have every key probed again at once.
      t.pass(`/readyz 503 ${await waitUntil(async () => (await readyz()).status === 503, 3_000, 'not ready while the token is away')} ms after`);
      const notReady = (await readyz()).notReady ?? {};
      t.match(notReady[kmodKey], /^(BACKEND_UNAVAILABLE|BACKEND_TIMEOUT): /, `the kmodsign key is named: ${notReady[kmodKey]}`);
      t.same(Object.keys(notReady).sort(), [...keyParts].sort(), 'every HSM key, and nothing else, is not ready');
      const metrics = (await get(ops, '/metrics')).body;
      t.equal(sample(metrics, 'signerd_ready'), 0, 'signerd_ready 0');
      t.equal(sample(metrics, 'signerd_readiness', { part: kmodKey }), 0);
    } finally {
      token.restore();
    }
    // No request meanwhile: the next scheduled probe (every 10 s) reopens the token.
    t.pass(
      `/readyz 200 again ${await waitUntil(async () => (await readyz()).status === 200, 15_000, 'ready once the token is back')} ms after the token returned`,
    );
    // Each token connection reopens at most once a second; poll (bounded) rather than assume a timing.
    const reply = await retryUntil(
      () => request(daemon.port, moduleLine),
      (r) => r.startsWith('OK '),
      20_000,
      250,
    );
    t.equal(reply, `OK ${readVector('module/dummy.ko.sha512.p7s').toString('base64')}`, 'signing resumed: the blob equals sign-file again');
    const status = await retryUntil(
      async () => postSwupdate().status,
      (s) => s === 200,
      10_000,
      250,
    );
    t.equal(status, 200, 'HTTP signs again');
    t.equal(daemon.proc.exitCode, null, 'the same process kept serving');
    t.ok(
      await until(() => daemon.logs.some((l) => l['msg'] === 'HSM token reopened'), 2_000), // the log line may reach us after the reply
      'the reopen is logged',
    );
    t.notMatch(JSON.stringify(daemon.logs) + daemon.stderr(), token.pin, 'the PIN never reaches the logs');
    t.equal(await daemon.stop(), 0, 'SIGTERM closes the HSM sessions and exits 0');
  });

  t.test('bad references stop start-up with exit 78 and one clear line', async (t) => {
    const optee = path.join(hsmRoot, MACHINE, 'opteesign/optee-signing-key.pem.pkcs11');
    const kmod = path.join(hsmRoot, MACHINE, 'kmodsign/kernel-signkey.priv.pkcs11');
    const original = { optee: fs.readFileSync(optee, 'utf8'), kmod: fs.readFileSync(kmod, 'utf8') };
    const restore = () => {
      fs.writeFileSync(optee, original.optee);
      fs.writeFileSync(kmod, original.kmod);
      fs.rmSync(path.join(hsmRoot, MACHINE, 'opteesign/optee-signing-key.pem'), { force: true });
    };
    t.teardown(restore);

    fs.writeFileSync(path.join(hsmRoot, MACHINE, 'opteesign/optee-signing-key.pem'), 'x', { mode: 0o600 });
    t.match(
      await startFailure(hsmRoot, token),
      /^exit 78: signerd firmware: CONFIG_INVALID: .*optee-signing-key\.pem: both the key file and optee-signing-key\.pem\.pkcs11 exist/,
    );
    restore();

    fs.writeFileSync(optee, `${token.uri('optee-qemux86-64')}\n${token.uri('kmod-qemux86-64')}\n`);
    t.match(await startFailure(hsmRoot, token), /^exit 78: signerd firmware: CONFIG_INVALID: HSM reference .* must hold exactly one pkcs11: URI line/);
    fs.writeFileSync(optee, `${token.uri('mender-poky')}\n`);
    t.match(await startFailure(hsmRoot, token), /^exit 78: signerd firmware: KEY_LOAD_FAILED: .*a ec-prime256v1 key does not fit here \(expected rsa\)/);
    fs.writeFileSync(optee, `${token.uri('no-such-key')}\n`);
    t.match(await startFailure(hsmRoot, token), /^exit 78: signerd firmware: KEY_LOAD_FAILED: no private key object=no-such-key/);
    fs.writeFileSync(optee, `${token.uri('optee-qemux86-64')}&pin-value=${token.pin}\n`);
    const pinInUri = await startFailure(hsmRoot, token);
    t.match(pinInUri, /^exit 78: signerd firmware: CONFIG_INVALID: pkcs11 URI: pin-value= is refused/);
    t.notMatch(pinInUri, token.pin, 'the PIN is not echoed');
    restore();

    fs.writeFileSync(kmod, `${token.uri('optee-qemux86-64')}\n`);
    t.match(
      await startFailure(hsmRoot, token),
      /^exit 78: signerd firmware: KEY_LOAD_FAILED: .*kernel-signkey\.priv\.pkcs11: the HSM key does not match certificate kernel-signkey\.x509/,
    );
    restore();

    // Login state is per application and token, so the wrong PIN goes into a root with this key alone.
    const wrongPin = path.join(token.dir, 'wrong-pin');
    fs.writeFileSync(wrongPin, 'not-the-pin-9876\n', { mode: 0o600 });
    const lone = path.join(dir, 'lone', MACHINE, 'opteesign');
    fs.mkdirSync(lone, { recursive: true });
    fs.writeFileSync(path.join(lone, 'optee-signing-key.pem.pkcs11'), `${token.uri('optee-qemux86-64').replace(token.pinFile, wrongPin)}\n`);
    const login = await startFailure(path.join(dir, 'lone'), token);
    t.match(login, /^exit 78: signerd firmware: HSM_LOGIN_FAILED: .*CKR_PIN_INCORRECT/);
    t.notMatch(login, 'not-the-pin-9876');
  });
});
