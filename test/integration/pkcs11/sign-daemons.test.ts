// sign-rsa and sign-ecdsa with keys held in a SoftHSM2 token, over the wire: replies keep the file
// backend's encodings, openssl verifies the signatures, and the verify daemons accept them.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { runSignerd, startDaemon } from '../../helpers/daemon.js';
import { request } from '../../helpers/line-client.js';
import { createToken, needSoftHsm } from '../../helpers/softhsm.js';
import { VALID, opensslVerifies, signaturesOf, type Family } from '../../helpers/signature-fixtures.js';

const FOR: Record<Family, string> = { rsa: 'sign-rsa', ecdsa: 'sign-ecdsa' };

t.test('HSM-backed sign daemons over the wire', needSoftHsm(), async (t) => {
  const token = createToken('wire-test');
  const stateDir = path.join(token.dir, 'state');
  t.teardown(() => token.cleanup());

  for (const family of ['rsa', 'ecdsa'] as const) {
    t.test(family, async (t) => {
      const publicKeyFile = path.join(token.dir, `${family}-pub.pem`);
      const made = await runSignerd(['hsm', 'generate', '--key', token.uri(family), '--for', FOR[family], '--public-out', publicKeyFile], '', token.env);
      t.equal(made.code, 0, made.stderr);
      const keyId = /key id {6}([0-9a-f]{16})/.exec(made.stdout)?.[1];
      t.ok(keyId, 'generate prints the key id');
      const shown = await runSignerd(['hsm', 'public-key', '--key', token.uri(family)], '', token.env);
      t.equal(shown.stdout, fs.readFileSync(publicKeyFile, 'utf8'), 'hsm public-key prints the same PEM');
      const listed = await runSignerd(['hsm', 'list', '--token', token.tokenUri()], '', token.env);
      const tokens = await runSignerd(['hsm', 'list', '--token', token.tokenUri().replace(`token=${token.label}`, '')], '', token.env);
      t.match(tokens.stdout, `pkcs11:token=${token.label}\n`, 'hsm list without token= lists the tokens');
      t.match(listed.stdout, new RegExp(`private-key\t${family === 'rsa' ? 'rsa-2048' : 'p384'}\tlabel=${family}\t`), 'hsm list shows the key');

      const signer = await startDaemon([`sign-${family}`, '--key', token.uri(family), '--state-dir', stateDir, '--port', '0'], { env: token.env });
      const verifier = await startDaemon([`verify-${family}`, '--keyring', publicKeyFile, '--state-dir', stateDir, '--port', '0']);
      t.teardown(async () => {
        await signer.stop();
        await verifier.stop();
      });
      t.match(
        signer.logs.find((l) => l['msg'] === 'listening'),
        { keyId },
        'the daemon signs under the key id generate printed',
      );

      const message = Buffer.from(`hsm-held ${family} key signs this`);
      const reply = await request(signer.port, message.toString());
      const [sig] = signaturesOf(reply);
      t.ok(sig, `seed reply form: ${reply.slice(0, 80)}`);
      t.equal(Buffer.from(sig!, 'hex').length, family === 'rsa' ? 256 : 96, 'same encoding as the file backend');
      t.ok(opensslVerifies(token.dir, family, publicKeyFile, message, sig!), 'openssl verifies the HSM signature');
      t.equal(await request(verifier.port, sig!), VALID[family], 'the verify daemon accepts it');

      // Several requests at once share the session pool; each signature still verifies.
      const lines = Array.from({ length: 8 }, (_, i) => `concurrent ${i}`);
      const replies = await Promise.all(lines.map((line) => request(signer.port, line)));
      replies.forEach((r, i) =>
        t.ok(opensslVerifies(token.dir, family, publicKeyFile, Buffer.from(lines[i]!), signaturesOf(r)[0] ?? ''), `concurrent ${i} verifies`),
      );
      t.equal(await signer.stop(), 0, 'SIGTERM drains, closes the HSM sessions and exits 0');
      const secrets = JSON.stringify(signer.logs) + signer.stderr();
      t.notMatch(secrets, token.pin, 'the PIN never reaches the logs');
    });
  }
});
