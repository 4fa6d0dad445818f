// Key objects deleted from the token while sign-rsa, sign-ecdsa and tezos run (pkcs11-tool
// --delete-object): one ERR BACKEND_UNAVAILABLE line per request, other keys and requests keep being
// served, and signing resumes by itself once the same key is imported again. Also for tezos: a PIN
// refused on a reopen is tried once for the token, not once per key (each try counts to the PIN lock).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { startDaemon } from '../../helpers/daemon.js';
import { request } from '../../helpers/line-client.js';
import { createToken, importIntoTestToken, needSoftHsm } from '../../helpers/softhsm.js';
import { opensslVerifies, signaturesOf } from '../../helpers/signature-fixtures.js';
import { http, httpSign, startTezos, TZ1, TZ2, writeKeys } from '../tezos/fixtures.js';
import { HSM_KEYS, hsmKeysConfig, pemOf, tezosToken } from '../tezos/hsm-fixtures.js';
import { consensus } from '../tezos/payloads.js';
import { verifyTezosSignature } from '../../../daemons/tezos/keys/tezos-key.js';
import { retryUntil, sleep } from '../../helpers/polling.js';

const GENPKEY = { rsa: ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'], ecdsa: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'] };
const ONE_ERROR_LINE = /^ERR BACKEND_UNAVAILABLE [^\n]+$/;

/** Asks until `done(reply)` (bounded: the pool reopens at most once a second); returns every reply. */
async function askUntil(ask: (i: number) => Promise<string>, done: (reply: string) => boolean): Promise<string[]> {
  const replies: string[] = [];
  await retryUntil(
    async (i) => {
      replies.push(await ask(i));
      return replies.at(-1)!;
    },
    done,
    10_000,
    250,
  );
  return replies;
}

t.test('key object deleted while sign-rsa and sign-ecdsa run', needSoftHsm(), async (t) => {
  const token = createToken('delete-test');
  t.teardown(() => token.cleanup());
  for (const family of ['rsa', 'ecdsa'] as const) {
    t.test(family, async (t) => {
      const pemFile = path.join(token.dir, `${family}.pem`);
      const publicKeyFile = path.join(token.dir, `${family}-pub.pem`);
      execFileSync('openssl', ['genpkey', ...GENPKEY[family], '-out', pemFile], { stdio: 'pipe' });
      fs.chmodSync(pemFile, 0o600);
      execFileSync('openssl', ['pkey', '-in', pemFile, '-pubout', '-out', publicKeyFile]);
      await importIntoTestToken(token, family, `sign-${family}`, pemFile);
      const signer = await startDaemon(
        [`sign-${family}`, '--key', token.uri(family), '--state-dir', path.join(token.dir, 'state'), '--port', '0', '--keep-open'],
        { env: token.env },
      );
      t.teardown(() => signer.stop());
      t.equal(signaturesOf(await request(signer.port, 'before')).length, 1, 'signs');

      token.deleteKeyPair(family);
      const missing = new RegExp(`^ERR BACKEND_UNAVAILABLE no private key object=${family} on the token`);
      const away = await askUntil(
        (i) => request(signer.port, `gone ${i}`),
        (r) => missing.test(r),
      );
      away.forEach((reply, i) => t.match(reply, ONE_ERROR_LINE, `gone ${i}: ${reply}`));
      t.match(away.at(-1), missing, 'the error names the missing object');
      for (let i = 0; i < 3; i++) t.match(await request(signer.port, `still gone ${i}`), missing, 'every request gets its answer');

      await importIntoTestToken(token, family, `sign-${family}`, pemFile);
      const back = await askUntil(
        (i) => request(signer.port, `back ${i}`),
        (r) => signaturesOf(r).length === 1,
      );
      const [sig] = signaturesOf(back.at(-1) ?? '');
      t.ok(sig, `signing resumed without a restart: ${back.at(-1)?.slice(0, 60)}`);
      t.ok(opensslVerifies(token.dir, family, publicKeyFile, Buffer.from(`back ${back.length - 1}`), sig ?? ''), 'with the same key');
      t.equal(signer.proc.exitCode, null, 'the same process kept serving');
      t.equal(await signer.stop(), 0, 'SIGTERM drains and exits 0');
    });
  }
});

t.test('tezos: one key deleted, the others keep signing; PIN refused once per token', needSoftHsm(), async (t) => {
  const token = await tezosToken(t, 'tezos-delete');
  const dir = path.join(token.dir, 'tezos');
  fs.mkdirSync(dir);
  const keysFile = writeKeys(dir, hsmKeysConfig(token));
  const { daemon, linePort, httpPort } = await startTezos(t, keysFile, ['--state-dir', path.join(dir, 'state')], token.env);
  let level = 0;
  const attestation = (): Buffer => consensus('attestation', { level: ++level, round: 0 });
  const lineSign = (pkh: string): Promise<string> => request(linePort, `sign ${pkh} ${attestation().toString('hex')}`);

  t.test('baker-tz1 deleted and imported again', async (t) => {
    t.equal((await httpSign(httpPort, TZ1.pkh, attestation())).status, 200, 'tz1 signs');
    token.deleteKeyPair('baker-tz1');
    const missing = /^ERR BACKEND_UNAVAILABLE no private key object=baker-tz1 on the token/;
    const away = await askUntil(
      () => lineSign(TZ1.pkh),
      (r) => missing.test(r),
    );
    away.forEach((reply, i) => t.match(reply, ONE_ERROR_LINE, `tz1 ${i}: ${reply}`));
    t.match(away.at(-1), missing, 'the error names the missing object');
    const httpAway = await httpSign(httpPort, TZ1.pkh, attestation());
    t.equal(httpAway.status, 503, 'HTTP 503');
    // octez's error shape; signerd's code travels in a header an octez client ignores (#10 §5).
    t.match(httpAway.body, [{ kind: 'temporary', id: 'failure' }]);
    t.equal(httpAway.code, 'BACKEND_UNAVAILABLE');
    t.match(await lineSign(TZ2.pkh), /^spsig1/, 'tz2 keeps signing (after the module reopen tz1 caused)');
    t.equal((await http(httpPort, 'GET', `/keys/${TZ1.pkh}`)).status, 200, 'public keys still answer');

    const pemFile = path.join(token.dir, 'tz1.pem');
    fs.writeFileSync(pemFile, pemOf(TZ1.sk), { mode: 0o600 });
    await importIntoTestToken(token, 'baker-tz1', 'tezos-tz1', pemFile);
    fs.rmSync(pemFile);
    let payload = attestation();
    const back = await retryUntil(
      () => {
        payload = attestation();
        return httpSign(httpPort, TZ1.pkh, payload);
      },
      (r) => r.status === 200,
      10_000,
      250,
    );
    t.equal(back.status, 200, 'tz1 signs again without a restart');
    t.ok(back.signature !== null && verifyTezosSignature(TZ1.pk, payload, back.signature), 'with the same key');
    t.equal(daemon.proc.exitCode, null, 'the same process kept serving');
  });

  t.test('PIN changed, then a reopen: one refused login for three keys', async (t) => {
    token.changePin('changed-0815');
    t.teardown(() => token.changePin(token.pin, 'changed-0815'));
    token.remove();
    for (const key of HSM_KEYS) t.match(await lineSign(key.pkh), ONE_ERROR_LINE, `${key.label} while the token is away`);
    token.restore();
    const refused = /^ERR BACKEND_UNAVAILABLE HSM token refused the PIN after a reopen; fix the PIN file and restart$/;
    for (const key of HSM_KEYS) {
      const replies = await askUntil(
        () => lineSign(key.pkh),
        (r) => refused.test(r),
      );
      t.match(replies.at(-1), refused, `${key.label}: refused`);
    }
    await sleep(1_200); // past the reopen interval: a retrying pool would log in again now
    for (const key of HSM_KEYS) t.match(await lineSign(key.pkh), refused, `${key.label}: still refused, without a login`);
    const refusals = daemon.logs.filter((l) => l['msg'] === 'HSM token refused the PIN on reopen; not retrying');
    t.equal(refusals.length, HSM_KEYS.length, 'each key connection stops');
    t.equal(refusals.filter((l) => l['ckr'] === 'CKR_PIN_INCORRECT').length, 1, 'but the token saw one wrong PIN, not three');
    t.equal((await http(httpPort, 'GET', `/keys/${TZ2.pkh}`)).status, 200, 'public keys still answer');
    t.equal(daemon.proc.exitCode, null, 'the process kept serving');
  });
});
