// The registry's life: SIGHUP takes a new registry at once (a removed client's open channel is
// closed within a second), a bad file on reload keeps the old one, a bad file at start stops the
// daemon with exit 78 naming the line, and plaintext beyond loopback is refused at start.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import tls from 'node:tls';
import t from 'tap';
import { runSignerd, startDaemon } from '../../helpers/daemon.js';
import { makeKeys } from '../../helpers/signature-fixtures.js';
import { needTools } from '../../helpers/tools.js';
import { channelArgs, channelSignArgs, enroll, openssl, opensslArgs, pskHex, writeRegistry } from './channel-fixtures.js';
import { until, waitFor } from '../../helpers/polling.js';
import { singleDir } from '../../unit/hmac/secret-fixtures.js';

const EX_CONFIG = 78;

t.test('client registry: reload and start-up checks', needTools('openssl'), async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signerd-registry-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const files = await enroll(dir, ['alice', 'bob'], ['pat']);
  const registry = path.join(dir, 'clients.txt');
  writeRegistry(registry, [files.certs['alice']!.line, files.certs['bob']!.line]);
  const keys = makeKeys(dir, 'ecdsa', 'registry');
  const daemonArgs = channelSignArgs(files, keys.privateKeyFile, path.join(dir, 'state'), registry);
  const signer = await startDaemon(daemonArgs);
  t.teardown(() => signer.stop());
  const alice = files.certs['alice']!;
  const reloaded = (from: number, msg: string) => until(() => signer.logs.slice(from).some((l) => l['msg'] === msg), 5_000);

  await t.test('a bad registry on SIGHUP keeps the old one, and says why', async (t) => {
    fs.writeFileSync(registry, `${files.certs['alice']!.line}\nthis line is not a client\n`, { mode: 0o600 });
    const from = signer.logs.length;
    signer.proc.kill('SIGHUP');
    t.ok(await reloaded(from, 'reload failed; keeping the previous configuration'), 'the failure is logged');
    t.match((await openssl(files, signer.port, 'hello\n', files.certs['bob']!)).stdout, /^\(b'hello'/, 'bob, in the old registry only, is still served');
  });

  await t.test('a PSK client added by SIGHUP to a certificate-only registry is served at once', async (t) => {
    const pat = { identity: 'pat', pskHex: pskHex(files, 'pat') };
    t.match((await openssl(files, signer.port, 'hello\n', pat)).stdout, /^ERR UNAUTHENTICATED /, 'pat is not registered yet');
    writeRegistry(registry, [files.certs['alice']!.line, files.certs['bob']!.line, files.psks['pat']!.line]);
    const from = signer.logs.length;
    signer.proc.kill('SIGHUP');
    t.ok(await reloaded(from, 'reloaded'), 'pat is in the registry');
    t.match((await openssl(files, signer.port, 'hello\n', pat)).stdout, /^\(b'hello'/, 'pat is served over its PSK, without a restart');
    t.match((await openssl(files, signer.port, 'hello\n', alice)).stdout, /^\(b'hello'/, 'certificate clients still are');
  });

  await t.test('SIGHUP removing a client closes its open channel within a second', async (t) => {
    writeRegistry(registry, [files.certs['alice']!.line, files.certs['bob']!.line]);
    let from = signer.logs.length;
    signer.proc.kill('SIGHUP');
    t.ok(await reloaded(from, 'reloaded'), 'bob is back in the registry');
    // Kept open: the channel stays until the client or the registry ends it.
    const kept = await startDaemon([...daemonArgs, '--keep-open']);
    t.teardown(() => kept.stop());
    const bob = spawn('openssl', opensslArgs(files, kept.port, files.certs['bob']!), { stdio: ['pipe', 'pipe', 'ignore'] });
    let out = '';
    bob.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const closed = new Promise<number>((resolve) => bob.once('close', () => resolve(Date.now())));
    bob.stdin.write('hello\n');
    t.ok(await until(() => out.includes("(b'hello'"), 5_000), 'bob is served on a kept-open channel');

    writeRegistry(registry, [alice.line]);
    const sent = Date.now();
    kept.proc.kill('SIGHUP');
    from = signer.logs.length;
    signer.proc.kill('SIGHUP');
    const gone = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(Infinity), 3_000))]);
    t.ok(gone - sent <= 1_000, `bob's channel is closed ${gone - sent} ms after SIGHUP`);
    t.match(out, /ERR UNAUTHENTICATED /, 'and told why');
    t.ok(
      await until(() => kept.logs.some((l) => l['msg'] === 'request' && l['outcome'] === 'UNAUTHENTICATED' && l['client'] === 'bob'), 5_000),
      'the closing is logged under its client',
    );
    bob.kill();
    t.ok(await reloaded(from, 'reloaded'), 'the other daemon reloaded too');
    t.match((await openssl(files, signer.port, 'hello\n', files.certs['bob']!)).stdout, /^ERR UNAUTHENTICATED /, 'a new channel for bob is refused');
    t.match((await openssl(files, signer.port, 'hello\n', alice)).stdout, /^\(b'hello'/, 'alice is served');
  });

  await t.test('a removed client that keeps sending is told and logged once, not at every sweep', async (t) => {
    writeRegistry(registry, [alice.line, files.certs['bob']!.line]);
    const kept = await startDaemon([...channelSignArgs(files, keys.privateKeyFile, path.join(dir, 'state-sending'), registry), '--keep-open']);
    t.teardown(() => kept.stop());
    const bob = files.certs['bob']!;
    // Half-open allowed: the daemon's FIN does not end our side (node would answer it with its own).
    const raw = net.connect({ host: '127.0.0.1', port: kept.port, allowHalfOpen: true });
    const socket = tls.connect({
      socket: raw,
      host: '127.0.0.1',
      ca: fs.readFileSync(files.serverCert),
      cert: fs.readFileSync(bob.cert),
      key: fs.readFileSync(bob.key),
      minVersion: 'TLSv1.3',
    });
    let out = '';
    socket.on('data', (d: Buffer) => (out += d.toString()));
    socket.on('error', () => undefined);
    // The client writes a line every 50 ms and never closes: the daemon's end waits up to 2 s for it.
    const writer = setInterval(() => socket.writable && socket.write('hello\n'), 50);
    t.teardown(() => {
      clearInterval(writer);
      socket.destroy();
    });
    t.ok(await until(() => out.includes("(b'hello'"), 5_000), 'bob is served');
    writeRegistry(registry, [alice.line]);
    kept.proc.kill('SIGHUP');
    t.ok(await until(() => out.includes('ERR UNAUTHENTICATED'), 3_000), 'bob is told why');
    // Four sweeps (every 500 ms) pass while the socket still waits for bob's close.
    await new Promise((resolve) => setTimeout(resolve, 2_200));
    const bobs = (msg: string): number => kept.logs.filter((l) => l['msg'] === msg && l['client'] === 'bob' && l['outcome'] === 'UNAUTHENTICATED').length;
    t.equal(bobs('request'), 1, 'one request record');
    t.equal(bobs('channel closed'), 1, "one 'channel closed' record");
    t.equal(out.match(/ERR UNAUTHENTICATED/g)?.length, 1, 'one ERR line');
  });

  await t.test('a PSK rotated by SIGHUP ends the open channels that still use the old key', async (t) => {
    const pat = { identity: 'pat', pskHex: pskHex(files, 'pat') };
    writeRegistry(registry, [alice.line, files.psks['pat']!.line]);
    const kept = await startDaemon([...daemonArgs, '--keep-open']);
    t.teardown(() => kept.stop());
    const client = spawn('openssl', opensslArgs(files, kept.port, pat), { stdio: ['pipe', 'pipe', 'ignore'] });
    let out = '';
    client.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const closed = new Promise<number>((resolve) => client.once('close', () => resolve(Date.now())));
    client.stdin.write('before\n');
    t.ok(await until(() => out.includes("(b'before'"), 5_000), 'pat is served on a kept-open channel');

    // Same name, a new key: what an operator does when a PSK may have leaked.
    const newKey = 'cd'.repeat(32);
    writeRegistry(registry, [alice.line, `pat psk:${newKey}`]);
    const sent = Date.now();
    kept.proc.kill('SIGHUP');
    const from = signer.logs.length;
    signer.proc.kill('SIGHUP');
    const gone = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(Infinity), 3_000))]);
    t.ok(gone - sent <= 1_000, `the old key's channel is closed ${gone - sent} ms after SIGHUP`);
    t.match(out, /ERR UNAUTHENTICATED /, 'and told why');
    client.kill();
    // New channels on the one-shot daemon, which took the same registry.
    t.ok(await reloaded(from, 'reloaded'), 'the other daemon reloaded too');
    t.match((await openssl(files, signer.port, 'hello\n', { identity: 'pat', pskHex: newKey })).stdout, /^\(b'hello'/, 'the new key opens a channel');
    t.equal((await openssl(files, signer.port, 'hello\n', pat)).stdout, '', 'the old one does not');
  });

  await t.test('a SIGHUP neither lifts an abuse block nor refills a bucket', async (t) => {
    const abuseRegistry = path.join(dir, 'clients-abuse.txt');
    writeRegistry(abuseRegistry, [`${files.certs['bob']!.line} rate=1/s`, alice.line]);
    const guarded = await startDaemon(channelSignArgs(files, keys.privateKeyFile, path.join(dir, 'state-abuse'), abuseRegistry));
    t.teardown(() => guarded.stop());
    // 700 lines at once from a rate=1/s client: past 600 refusals a minute it is blocked.
    await openssl(files, guarded.port, 'x\n'.repeat(700), files.certs['bob']!);
    t.ok(await until(() => guarded.logs.some((l) => l['msg'] === 'client blocked for abuse' && l['client'] === 'bob'), 5_000), 'bob is blocked');
    const from = guarded.logs.length;
    guarded.proc.kill('SIGHUP');
    t.ok(await until(() => guarded.logs.slice(from).some((l) => l['msg'] === 'reloaded'), 5_000), 'reloaded');
    t.match(
      (await openssl(files, guarded.port, 'hello\n', files.certs['bob']!)).stdout,
      /^ERR FORBIDDEN client bob is blocked for abuse/,
      'still blocked after the reload',
    );
    t.match((await openssl(files, guarded.port, 'hello\n', alice)).stdout, /^\(b'hello'/, 'alice is served');
  });

  await t.test('a channel older than max-session is closed and its client told why', async (t) => {
    writeRegistry(registry, [`${alice.line} max-session=1`]);
    const kept = await startDaemon([...daemonArgs, '--keep-open']);
    t.teardown(() => kept.stop());
    // A TLS client in this process, not openssl: what is timed from before the handshake to the
    // close is then the daemon's max-session and sweep, not also a client process starting and
    // exiting (hundreds of ms on a loaded machine, against the 500 ms the sweep leaves).
    const credentials = { cert: fs.readFileSync(alice.cert), key: fs.readFileSync(alice.key), ca: fs.readFileSync(files.serverCert) };
    const opened = Date.now();
    const client = tls.connect({ host: '127.0.0.1', port: kept.port, ...credentials });
    let out = '';
    client.setEncoding('utf8');
    client.on('data', (d: string) => (out += d));
    client.on('error', () => {});
    const closed = new Promise<number>((resolve) => client.once('close', () => resolve(Date.now())));
    client.write('hello\n');
    t.ok(await until(() => out.includes("(b'hello'"), 5_000), 'served at first');
    const gone = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(Infinity), 4_000))]);
    t.ok(gone - opened >= 1_000 && gone - opened <= 2_000, `closed ${gone - opened} ms after it opened (max-session=1)`);
    t.match(out, /ERR UNAUTHENTICATED .*max-session/, 'and told to open a new one');
    client.destroy();
    writeRegistry(registry, [alice.line]);
  });

  await t.test('hmac: a secret file refused on SIGHUP does not keep a removed client served', async (t) => {
    writeRegistry(registry, [alice.line, files.certs['bob']!.line]);
    const secretDir = singleDir(path.join(dir, 'hmac-secrets'));
    const hmac = await startDaemon(['hmac', '--secret-dir', secretDir, '--port', '0', '--verify-port', '0', ...channelArgs(files, registry)], { listeners: 2 });
    t.teardown(() => hmac.stop());
    t.match((await openssl(files, hmac.port, 'x\n', files.certs['bob']!)).stdout, /^[0-9a-f]{64}\n/, 'bob is served');
    fs.chmodSync(path.join(secretDir, 'secret'), 0o644);
    writeRegistry(registry, [alice.line]);
    const from = hmac.logs.length;
    hmac.proc.kill('SIGHUP');
    const failed = await waitFor(
      () => hmac.logs.slice(from).find((l) => l['msg'] === 'reload failed; keeping the previous configuration') ?? null,
      5_000,
      'the reload failure',
    );
    t.match(failed, { err: /^secrets: .*mode 0644.* \(client registry: reloaded\)$/ }, 'the secrets are kept, and the log says the registry was reloaded');
    t.match((await openssl(files, hmac.port, 'x\n', files.certs['bob']!)).stdout, /^ERR UNAUTHENTICATED /, 'bob, removed, is refused');
    t.match((await openssl(files, hmac.port, 'x\n', alice)).stdout, /^[0-9a-f]{64}\n/, 'alice is served with the old secret');
    fs.chmodSync(path.join(secretDir, 'secret'), 0o600);
  });

  await t.test('start-up: exit 78 for a bad registry or plaintext beyond loopback', async (t) => {
    const start = (extra: string[]) =>
      runSignerd(['sign-ecdsa', '--key', keys.privateKeyFile, '--port', '0', '--state-dir', path.join(dir, 'state2'), ...extra]);
    const bad = path.join(dir, 'bad.txt');
    const check = async (lines: string[], mode: number, what: string, pattern: RegExp) => {
      fs.writeFileSync(bad, lines.join('\n') + '\n', { mode });
      fs.chmodSync(bad, mode);
      const run = await start(channelArgs(files, bad));
      t.equal(run.code, EX_CONFIG, `${what}: exit 78`);
      t.match(run.stderr, pattern, `${what}: says where`);
    };
    await check([alice.line, 'broken'], 0o600, 'a malformed line', /line 2/);
    await check([alice.line, `${alice.line.split(' ')[0]} ${files.certs['bob']!.line.split(' ')[1]}`], 0o600, 'a duplicate name', /line 2/);
    await check([`${alice.line} colour=blue`], 0o600, 'an unknown option', /line 1/);
    await check([files.psks['pat']!.line], 0o644, 'a PSK registry others can read', /0600|mode|readable/);
    const plain = await start(['--host', '0.0.0.0']);
    t.equal(plain.code, EX_CONFIG, 'plaintext on 0.0.0.0: exit 78');
    t.match(plain.stderr, /insecure-plaintext|TLS/, 'and it says how to do it right');
    t.notOk(plain.stderr.includes(fs.readFileSync(files.psks['pat']!.hexFile, 'utf8').trim()), 'no secret in the message');
    const exposed = await startDaemon([
      'sign-ecdsa',
      '--key',
      keys.privateKeyFile,
      '--port',
      '0',
      '--state-dir',
      path.join(dir, 'exposed'),
      '--host',
      '0.0.0.0',
      '--insecure-plaintext',
    ]);
    t.teardown(() => exposed.stop());
    t.ok(
      exposed.logs.some((l) => l['level'] === 'warn' && l['host'] === '0.0.0.0' && /plaintext beyond loopback/.test(String(l['msg']))),
      '--insecure-plaintext beyond loopback: a warning at every start',
    );
  });
});
