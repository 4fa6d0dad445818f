// The firmware line protocol itself: info verbs, one ERR line per bad request with the daemon still
// serving, line limits, JSON replies, request logs without payloads, and start-up refusals (exit 78).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { runSignerd } from '../../helpers/daemon.js';
import { exchange, request } from '../../helpers/line-client.js';
import { needTools } from '../../helpers/tools.js';
import { copyKeyRoot, DISTRO, MACHINE, okValue, readVector, script, startFirmware, tool, vector } from './line-fixtures.js';
import { waitFor } from '../../helpers/polling.js';

t.test('info verbs and errors', needTools('openssl'), async (t) => {
  const dir = t.testdir({});
  const keyRoot = copyKeyRoot(dir);
  const daemon = await startFirmware(keyRoot, ['--line-bytes-max', '4096']);
  t.teardown(() => daemon.stop());

  t.test('KEYS, KEYINFO, PUBKEY, CERT', async (t) => {
    t.equal(
      await request(daemon.port, 'KEYS'),
      `OK kmodsign:${MACHINE} swupdate:${DISTRO} mender:${DISTRO} mender:poky-rsa opteesign:${MACHINE} uefisign:${MACHINE} fitimagesign:${MACHINE}`,
    );
    t.match(okValue(await request(daemon.port, `KEYINFO ${DISTRO} mender`)), /^type=ec bits=256 curve=prime256v1 sig-bytes=64 key-id=[0-9a-f]{16} cert=no$/);
    t.match(okValue(await request(daemon.port, `KEYINFO ${DISTRO} swupdate-cms`)), /^type=rsa bits=2048 sig-bytes=256 .* cert=yes$/);
    const certDer = Buffer.from(okValue(await request(daemon.port, `CERT ${MACHINE} kmodsign`)), 'base64');
    t.ok(certDer.equals(fs.readFileSync(path.join(keyRoot, MACHINE, 'kmodsign/kernel-signkey.x509'))), 'CERT is the certificate DER');
    const cms = Buffer.from(okValue(await request(daemon.port, `CERT ${DISTRO} swupdate-cms`)), 'base64');
    t.ok(cms.equals(tool('openssl', ['x509', '-in', path.join(keyRoot, DISTRO, 'swupdate/cms.cert'), '-outform', 'DER']).stdout));
    const spki = Buffer.from(okValue(await request(daemon.port, `PUBKEY ${DISTRO} swupdate-rsa`)), 'base64');
    const expected = tool('openssl', ['pkey', '-in', path.join(keyRoot, DISTRO, 'swupdate/rsa-private.key'), '-pubout', '-outform', 'DER']).stdout;
    t.ok(spki.equals(expected), 'PUBKEY is the SubjectPublicKeyInfo DER');
    t.match(await request(daemon.port, `CERT ${DISTRO} mender`), /^ERR BAD_REQUEST slot mender has no certificate/);
    t.match(await request(daemon.port, `KEYINFO ${DISTRO} tegrasign`), /^ERR BAD_REQUEST slot must be one of/);
  });

  t.test('each bad line gets exactly one ERR line; the connection and daemon keep serving', async (t) => {
    const replies = await exchange(daemon.port, [
      'NOPE',
      'ping',
      'PING extra',
      'KEYINFO  poky mender',
      'KEYINFO ../../etc mender',
      'KEYINFO .hidden mender',
      `KEYINFO ${'a'.repeat(65)} mender`,
      'KEYINFO nosuch mender',
      '',
      'PING',
    ]);
    t.equal(replies.length, 10);
    t.match(replies[0], /^ERR UNKNOWN_VERB /);
    t.match(replies[1], /^ERR UNKNOWN_VERB /, 'verbs are upper case');
    t.match(replies[2], /^ERR BAD_REQUEST usage: PING/);
    t.match(replies[3], /^ERR BAD_REQUEST usage: KEYINFO <selector> <slot>/);
    t.match(replies[4], /^ERR BAD_REQUEST selector must match/);
    t.match(replies[5], /^ERR BAD_REQUEST selector must match/);
    t.match(replies[6], /^ERR BAD_REQUEST selector must match/);
    t.match(replies[7], /^ERR UNKNOWN_KEY /);
    t.match(replies[8], /^ERR UNKNOWN_VERB /);
    t.equal(replies[9], 'OK PONG');
  });

  t.test('an over-long line gets ERR LINE_TOO_LONG; the daemon keeps serving', async (t) => {
    const replies = await exchange(daemon.port, [`SWUPDATE ${DISTRO} RSA ${'A'.repeat(5000)}`]);
    t.match(replies[0], /^ERR LINE_TOO_LONG /);
    t.equal(await request(daemon.port, 'PING'), 'OK PONG');
  });

  t.test('one log line per request, with verb and selector, never the payload', async (t) => {
    const manifest = Buffer.from(`${'ab'.repeat(32)}  version\n`).toString('base64');
    await request(daemon.port, `MENDER ${DISTRO} ${manifest}`);
    // pino writes asynchronously: the log line may arrive just after the reply.
    const line = await waitFor(() => daemon.logs.find((l) => l['verb'] === 'MENDER'), 5_000, 'the MENDER request record', 50);
    t.ok(line, 'logged');
    t.equal(line?.['selector'], DISTRO);
    t.equal(line?.['outcome'], 'ok');
    t.notOk(JSON.stringify(daemon.logs).includes(manifest), 'payload not logged');
  });
});

t.test('JSON replies', needTools('openssl'), async (t) => {
  const keyRoot = copyKeyRoot(t.testdir({}));
  const daemon = await startFirmware(keyRoot, ['--reply', 'json']);
  t.teardown(() => daemon.stop());
  t.same(JSON.parse(await request(daemon.port, 'PING')), { ok: 'PONG' });
  t.same(JSON.parse(await request(daemon.port, 'KEYINFO x mender')).error.code, 'UNKNOWN_KEY');
});

t.test('the client scripts also work against a --keep-open daemon (nc -N half-closes)', needTools('openssl', 'nc'), async (t) => {
  const dir = t.testdir({});
  const daemon = await startFirmware(copyKeyRoot(dir), ['--keep-open']);
  t.teardown(() => daemon.stop());
  const out = path.join(dir, 'rsa.sig');
  const r = script('firmware-sign-swupdate.sh', [DISTRO, 'RSA', vector('swupdate/sw-description'), out], daemon.port);
  t.equal(r.code, 0, r.out);
  t.ok(fs.readFileSync(out).equals(readVector('swupdate/sw-description.rsa.sig')));
});

t.test('start-up refuses key roots that others could swap or rewrite', async (t) => {
  const start = (root: string) => runSignerd(['firmware', '--key-root', root, '--port', '0', '--no-http']);
  const base = t.testdir({});
  // Anyone who may rename in a directory above the key root, or above where a distro's link leads,
  // could swap in their own keys; a certificate others may write goes into every signature.
  const parent = path.join(base, 'open-parent');
  const underOpenParent = copyKeyRoot(parent);
  fs.chmodSync(parent, 0o777);
  const linked = copyKeyRoot(path.join(base, 'linked'));
  const shared = path.join(base, 'shared-open');
  fs.mkdirSync(shared, { mode: 0o700 });
  fs.renameSync(path.join(linked, DISTRO), path.join(shared, DISTRO));
  fs.symlinkSync(path.join(shared, DISTRO), path.join(linked, DISTRO));
  fs.chmodSync(shared, 0o777);
  const writableCert = copyKeyRoot(path.join(base, 'cert'));
  fs.chmodSync(path.join(writableCert, DISTRO, 'swupdate/cms.cert'), 0o664);
  for (const [name, root, why] of [
    ['a key root under a directory others may write in', underOpenParent, /KEY_FILE_INSECURE: key root .* is under .*open-parent, which has mode 0777/],
    ["a distro's link into a directory others may write in", linked, /KEY_FILE_INSECURE: key directory .* is under .*shared-open, which has mode 0777/],
    ['a certificate others may write', writableCert, /KEY_FILE_INSECURE: certificate .*cms\.cert has mode 0664/],
  ] as const) {
    const r = await start(root);
    t.equal(r.code, 78, name);
    t.match(r.stderr, why, name);
  }
  fs.chmodSync(parent, 0o700);
  fs.chmodSync(shared, 0o700);
});

t.test('start-up refuses unsafe or broken key roots with exit 78', async (t) => {
  const start = (root: string) => runSignerd(['firmware', '--key-root', root, '--port', '0', '--no-http']);
  const insecure = copyKeyRoot(t.testdir({}));
  fs.chmodSync(path.join(insecure, DISTRO, 'mender/private.key'), 0o640);
  const r1 = await start(insecure);
  t.equal(r1.code, 78);
  t.match(r1.stderr, /KEY_FILE_INSECURE/);

  const mismatch = copyKeyRoot(t.testdir({}));
  fs.copyFileSync(path.join(mismatch, DISTRO, 'swupdate/rsa-private.key'), path.join(mismatch, MACHINE, 'kmodsign/kernel-signkey.priv'));
  const r2 = await start(mismatch);
  t.equal(r2.code, 78);
  t.match(r2.stderr, /KEY_LOAD_FAILED.*does not match certificate/);

  const wrongType = copyKeyRoot(t.testdir({}));
  fs.copyFileSync(path.join(wrongType, DISTRO, 'mender/private.key'), path.join(wrongType, MACHINE, 'opteesign/optee-signing-key.pem'));
  const r3 = await start(wrongType);
  t.equal(r3.code, 78);
  t.match(r3.stderr, /KEY_LOAD_FAILED.*does not fit/);

  // OP-TEE's sign_encrypt.py would sign with any RSA key; a factorable one is refused here.
  const weak = copyKeyRoot(t.testdir({}));
  const weakKey = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' });
  fs.writeFileSync(path.join(weak, MACHINE, 'opteesign/optee-signing-key.pem'), weakKey, { mode: 0o600 });
  const weakRun = await start(weak);
  t.equal(weakRun.code, 78);
  t.match(weakRun.stderr, /KEY_LOAD_FAILED: private key .*optee-signing-key\.pem: an RSA-1024 key is too small \(RSA keys need 2048 bits or more\)/);

  const r4 = await start(path.join(t.testdirName, 'missing'));
  t.equal(r4.code, 78);
  t.match(r4.stderr, /CONFIG_INVALID.*ENOENT/);

  const noKeys = copyKeyRoot(t.testdir({}));
  fs.rmSync(path.join(noKeys, DISTRO, 'swupdate/cms-private.key'));
  const r5 = await start(noKeys);
  t.equal(r5.code, 78, 'a cms.cert without its key is refused');
  t.match(r5.stderr, /KEY_LOAD_FAILED/);
});
