// `signerd hmac --secret pkcs11:...` (single mode, secret in a SoftHSM2 token): the same tags as the
// file-based daemon and Python's hmac for the same bytes, verify, HTTP POST /hmac with curl, SIGHUP;
// signerd_key_info names the mode and the pkcs11 backend, nothing of the secret.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { request } from '../../helpers/line-client.js';
import { get, metricsPortOf, sample } from '../../helpers/operations.js';
import { createToken, needSoftHsm } from '../../helpers/softhsm.js';
import { needTools } from '../../helpers/tools.js';
import { singleDir, writeSecret } from '../../unit/hmac/secret-fixtures.js';
import { randomMessage, referenceTags, startHmac, waitForLog } from './hmac-fixtures.js';
import { curlPost, importSecret, startHsmHmac } from './hsm-fixtures.js';

const base = t.testdir();

t.test('single mode with the secret in an HSM', { ...needSoftHsm(), ...needTools('python3', 'curl') }, async (t) => {
  const token = createToken('hmac-single');
  t.teardown(() => token.cleanup());
  const dir = singleDir(path.join(base, 'single'));
  const secretFile = path.join(dir, 'secret');
  await importSecret(token, 'hmac-secret', secretFile);

  const hsm = await startHsmHmac(token, ['--secret', token.uri('hmac-secret'), '--metrics-port', '0'], true);
  const file = await startHmac(['--secret-dir', dir]);
  t.teardown(async () => {
    await hsm.stop();
    await file.stop();
  });
  t.match(
    hsm.logs.find((l) => l['msg'] === 'secrets loaded'),
    { mode: 'single', backend: 'pkcs11', hsmKey: 'pkcs11:token=hmac-single;object=hmac-secret' },
  );
  const metrics = (await get(metricsPortOf(hsm), '/metrics')).body;
  t.equal(sample(metrics, 'signerd_key_info', { key_id: 'single', algorithm: 'hmac-sha256', backend: 'pkcs11' }), 1, 'signerd_key_info: mode and backend');
  for (const hidden of ['hmac-secret', token.pinFile, token.pin]) t.notOk(metrics.includes(hidden), `${hidden} is not in /metrics`);

  const long = randomMessage(5000, 7); // three chunks of the line protocol
  const messages = [Buffer.from('hello world'), randomMessage(100, 1), long];
  for (const message of messages) {
    const reply = await request(hsm.port, message);
    t.equal(reply, await request(file.port, message), `${message.length} bytes: same reply as the file-based daemon`);
    const chunks = [message.subarray(0, 2048), message.subarray(2048, 4096), message.subarray(4096)].filter((c) => c.length > 0);
    t.equal(
      reply,
      referenceTags('single', dir, chunks)
        .map((r) => r.tag)
        .join(' '),
      `${message.length} bytes: Python's hmac agrees`,
    );
  }

  const [tag] = referenceTags('single', dir, [Buffer.from('hello world')]).map((r) => r.tag);
  const verify = hsm.ports[1]!;
  t.equal(await request(verify, `${tag} hello world`), 'Valid.');
  t.equal(await request(verify, `${tag!.toUpperCase()} hello world`), 'Valid.', 'tag hex of either case');
  t.equal(await request(verify, `${tag} hello world!`), 'Invalid.', 'other data');
  t.equal(await request(verify, `${tag!.slice(0, 62)} hello world`), 'Invalid.', 'truncated tag (length check)');
  t.equal(await request(verify, `${tag}00 hello world`), 'Invalid.', 'too long a tag');
  t.match(await request(verify, 'zz hello'), /^ERR BAD_REQUEST /);
  const longTags = (await request(hsm.port, long)).replace(/ /g, '');
  t.equal(await request(verify, Buffer.concat([Buffer.from(longTags + ' '), long, Buffer.from('\n')])), 'Valid.', 'multi-chunk verify');

  const bodyFile = path.join(base, 'body.bin');
  const body = Buffer.from('  the HTTP body is MACed as sent\n');
  fs.writeFileSync(bodyFile, body);
  const posted = curlPost(`http://127.0.0.1:${hsm.ports[2]}/hmac`, bodyFile);
  t.equal(posted.status, 200);
  t.equal(posted.bodyHex, referenceTags('single', dir, [body])[0]!.tag, 'curl POST /hmac: the raw tag from the token');

  const lines = Array.from({ length: 16 }, (_, i) => `concurrent request ${i}`);
  const replies = await Promise.all(lines.map((line) => request(hsm.port, line)));
  t.same(
    replies,
    referenceTags(
      'single',
      dir,
      lines.map((l) => Buffer.from(l)),
    ).map((r) => r.tag),
    '16 requests at once share the session pool',
  );

  t.test('SIGHUP reopens the key; a failed reload keeps the old one', async (t) => {
    const hup = async (expect: string): Promise<Record<string, unknown>> => {
      const from = hsm.logs.length;
      hsm.proc.kill('SIGHUP');
      return waitForLog(hsm, expect, from, 10_000);
    };
    t.match(await hup('secrets reloaded'), { mode: 'single', backend: 'pkcs11' });
    t.equal(await request(hsm.port, 'hello world'), tag, 'same tags after a reload');

    fs.chmodSync(token.pinFile, 0o644);
    t.match(await hup('reload failed; keeping the previous configuration'), { err: /KEY_FILE_INSECURE|mode 0644/ });
    fs.chmodSync(token.pinFile, 0o600);
    t.equal(await request(hsm.port, 'hello world'), tag, 'the old key keeps serving');

    // Rotation: replace the token's object under the same label, then SIGHUP.
    token.pkcs11Tool(['--delete-object', '--type', 'secrkey', '--label', 'hmac-secret']);
    const rotated = path.join(base, 'rotated');
    writeSecret(path.join(rotated, 'secret'), randomMessage(32, 99));
    await importSecret(token, 'hmac-secret', path.join(rotated, 'secret'));
    t.match(await hup('secrets reloaded'), { mode: 'single' });
    const after = referenceTags('single', rotated, [Buffer.from('hello world')])[0]!.tag;
    t.not(after, tag);
    t.equal(await request(hsm.port, 'hello world'), after, 'the replaced secret is in use');
    t.equal(await request(verify, `${tag} hello world`), 'Invalid.', 'the old secret no longer verifies');
  });

  t.test('SIGTERM closes the token and exits 0; the PIN is never logged', async (t) => {
    t.equal(await hsm.stop(), 0);
    t.notOk((JSON.stringify(hsm.logs) + hsm.stderr()).includes(token.pin), 'no PIN in logs');
    t.notOk(JSON.stringify(hsm.logs).includes(fs.readFileSync(secretFile).toString('hex')), 'no secret in logs');
  });
});
