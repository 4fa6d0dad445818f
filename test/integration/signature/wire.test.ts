// The seed-compatible wire contract of sign-rsa, verify-rsa, sign-ecdsa and verify-ecdsa,
// through real sockets, real `nc` (netcat-openbsd) and independent `openssl` verification.
import t from 'tap';
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { startDaemon, type RunningDaemon } from '../../helpers/daemon.js';
import { exchange, request } from '../../helpers/line-client.js';
import { needTools } from '../../helpers/tools.js';
import { INVALID, VALID, makeKeys, opensslVerifies, signaturesOf, type Family } from '../../helpers/signature-fixtures.js';
import { sleep } from '../../helpers/polling.js';

const dir = t.testdir();

function nc(port: number, input: string | Buffer, flags: string[] = []): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('nc', [...flags, '127.0.0.1', String(port)], { encoding: 'latin1', timeout: 10_000 }, (err, stdout) =>
      err ? reject(err) : resolve(stdout),
    );
    child.stdin!.on('error', () => {}); // an early exit shows in nc's status; its EPIPE is not the failure
    child.stdin!.end(input);
  });
}

function pythonRepr(data: Buffer): string {
  return execFileSync('python3', ['-c', 'import sys; sys.stdout.write(repr(sys.stdin.buffer.read()))'], { input: data, encoding: 'utf8' });
}

for (const family of ['rsa', 'ecdsa'] as Family[]) {
  t.test(`${family}: sign and verify over the wire`, needTools('nc', 'openssl', 'python3'), async (t) => {
    const keys = makeKeys(dir, family, `${family}-wire`, 4096);
    const common = ['--port', '0', '--state-dir', path.join(dir, `state-${family}`)];
    const signer = await startDaemon([`sign-${family}`, '--key', keys.privateKeyFile, ...common]);
    const verifier = await startDaemon([`verify-${family}`, '--keyring', keys.publicKeyFile, ...common]);
    t.teardown(async () => {
      await signer.stop();
      await verifier.stop();
    });

    await t.test('echo msg | nc prints one reply line and nc exits on its own', async (t) => {
      const out = await nc(signer.port, 'mytoken\n');
      t.match(out, new RegExp(`^\\(b'mytoken', b'[0-9a-f]{${family === 'rsa' ? 1024 : 192}}'\\)\\n$`));
      const [sig] = signaturesOf(out);
      t.ok(opensslVerifies(dir, family, keys.publicKeyFile, Buffer.from('mytoken'), sig!), 'openssl verifies the signature');
      t.equal(await nc(verifier.port, `${sig}\n`), VALID[family] + '\n');
      t.equal(await nc(verifier.port, `${sig!.toUpperCase()}\n`), VALID[family] + '\n', 'hex is case-insensitive');
    });

    await t.test('the reply quotes the trimmed message exactly as Python repr does', async (t) => {
      for (const message of [`it's`, `say "hi" it's`, 'tab\there', 'back\\slash', 'caf\u00e9', '\x01\x7f ctl']) {
        const bytes = Buffer.from(message, 'utf8');
        const reply = await request(signer.port, Buffer.concat([Buffer.from('  '), bytes, Buffer.from(' \r\n')]));
        t.equal(reply.slice(1, reply.lastIndexOf(', b')), pythonRepr(bytes), JSON.stringify(message));
        const sig = signaturesOf(reply)[0]!;
        t.ok(opensslVerifies(dir, family, keys.publicKeyFile, bytes, sig), 'signed bytes are the trimmed message');
      }
    });

    await t.test('content over 2048 bytes is signed in 2048-byte chunks, one reply line', async (t) => {
      const content = Buffer.from(Array.from({ length: 5000 }, (_, i) => String.fromCharCode(97 + (i % 26))).join(''));
      const replies = await exchange(signer.port, [content.toString()]);
      t.equal(replies.length, 1);
      const sigs = signaturesOf(replies[0]!);
      t.equal(sigs.length, 3);
      const parts = [content.subarray(0, 2048), content.subarray(2048, 4096), content.subarray(4096)];
      sigs.forEach((sig, i) => t.ok(opensslVerifies(dir, family, keys.publicKeyFile, parts[i]!, sig), `chunk ${i} verifies alone`));
      for (const sig of sigs) t.equal(await request(verifier.port, sig), VALID[family]);
    });

    await t.test('many lines through nc -N get one reply each, in order', async (t) => {
      const lines = Array.from({ length: 40 }, (_, i) => `line-${i}`);
      const out = (await nc(signer.port, lines.join('\n') + '\n', ['-N'])).split('\n').filter(Boolean);
      t.equal(out.length, 40);
      out.forEach((reply, i) => t.ok(reply.startsWith(`(b'line-${i}', b'`), `reply ${i} in order`));
    });

    await t.test('a last line without LF counts when the client closes', async (t) => {
      const out = await nc(signer.port, 'no-newline', ['-N']);
      t.match(out, /^\(b'no-newline', b'[0-9a-f]+'\)\n$/);
    });

    await t.test('verify: no record is not valid; junk is a one-line error', async (t) => {
      const unknown = 'ab'.repeat(family === 'rsa' ? 512 : 96);
      t.equal(await request(verifier.port, unknown), INVALID[family]);
      t.match(await request(verifier.port, 'not hex at all'), /^ERR BAD_REQUEST /);
      t.match(await request(verifier.port, 'abc'), /^ERR BAD_REQUEST /);
      t.match(await request(verifier.port, ''), /^ERR BAD_REQUEST /);
      const signed = signaturesOf(await request(signer.port, 'x'))[0]!;
      const tampered = signed.slice(0, -2) + (signed.endsWith('00') ? '01' : '00');
      t.equal(await request(verifier.port, tampered), INVALID[family], 'a tampered signature has no record');
    });

    await t.test('many clients at once are all served', async (t) => {
      const replies = await Promise.all(Array.from({ length: 30 }, (_, i) => request(signer.port, `client-${i}`)));
      replies.forEach((reply, i) => t.ok(reply.startsWith(`(b'client-${i}', b'`)));
    });
  });
}

t.test('JSON reply mode and keep-open connections', needTools('openssl'), async (t) => {
  const keys = makeKeys(dir, 'ecdsa', 'json');
  const common = ['--port', '0', '--state-dir', path.join(dir, 'state-json'), '--reply', 'json', '--keep-open'];
  const signer = await startDaemon(['sign-ecdsa', '--key', keys.privateKeyFile, ...common]);
  const verifier = await startDaemon(['verify-ecdsa', '--keyring', keys.publicKeyFile, ...common]);
  t.teardown(async () => {
    await signer.stop();
    await verifier.stop();
  });
  const socket = net.connect(signer.port, '127.0.0.1');
  const lines: string[] = [];
  let buffered = '';
  const next = (): Promise<string> =>
    new Promise((resolve) => {
      const check = (): void => {
        const nl = buffered.indexOf('\n');
        if (nl === -1) return void socket.once('data', (d) => ((buffered += d.toString()), check()));
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        resolve(line);
      };
      check();
    });
  for (const message of ['first', 'second']) {
    socket.write(message + '\n');
    const reply = JSON.parse(await next()) as { algorithm: string; keyId: string; signatures: string[] };
    t.equal(reply.algorithm, 'ecdsa-p384-sha384');
    t.equal(reply.keyId, keys.keyId);
    t.ok(opensslVerifies(dir, 'ecdsa', keys.publicKeyFile, Buffer.from(message), reply.signatures[0]!));
    lines.push(reply.signatures[0]!);
    // Longer than the default linger: a keep-open connection must still be there.
    await sleep(300);
  }
  socket.write('\n\n');
  t.equal(JSON.parse(await next()).signatures.length, 1, 'an empty line signs the empty message, as the seed did');
  socket.end();
  t.same(
    JSON.parse(await request(verifier.port, lines[0]!.toUpperCase())),
    { valid: true, keyId: keys.keyId, signature: lines[0], algorithm: 'ecdsa-p384-sha384' },
    'valid: key id, signature (as stored) and algorithm',
  );
  t.same(JSON.parse(await request(verifier.port, 'zz')), { error: { code: 'BAD_REQUEST', message: 'signature is not hex' } });
  t.same(
    JSON.parse(await request(verifier.port, 'aa'.repeat(96))),
    { valid: false, reason: 'no-live-record', signature: 'aa'.repeat(96), algorithm: 'ecdsa-p384-sha384' },
    'no record: no key id',
  );
  fs.rmSync(path.join(dir, 'state-json'), { recursive: true, force: true });
});

export type { RunningDaemon };
