// Client channels on the line daemons, driven by the bash clients users have: openssl s_client
// (certificate and PSK), socat, ncat, stunnel in front of nc, and scripts/request_client.sh; and the
// refusals a closed service gives (UNAUTHENTICATED, FORBIDDEN, RATE_LIMITED, a failed handshake).
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import t, { type Test } from 'tap';
import { runSignerd, startDaemon } from '../../helpers/daemon.js';
import { get, metricsPortOf, sample } from '../../helpers/operations.js';
import { REPO_ROOT } from '../../helpers/repo-root.js';
import { makeKeys, opensslVerifies, signaturesOf, VALID } from '../../helpers/signature-fixtures.js';
import { needTools } from '../../helpers/tools.js';
import { channelArgs, channelSignArgs, enroll, oddClientCertificate, openssl, pskHex, runTool, startStunnel, writeRegistry } from './channel-fixtures.js';
import { sleep, until } from '../../helpers/polling.js';
import { freePort } from '../../helpers/ports.js';

const SIGNED = /^\(b'hello', b'[0-9a-f]{192}'\)$/;

t.test('line daemons over TLS client channels', needTools('openssl', 'socat', 'ncat', 'stunnel4', 'nc'), async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signerd-channels-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const files = await enroll(dir, ['alice', 'bob', 'carol', 'mallory', 'rita'], ['pat']);
  // Registered, yet no certificate for a channel: expired, not yet valid, a server's.
  const day = 86_400_000;
  const odd = {
    expired: oddClientCertificate(dir, 'olga', { notBefore: new Date(Date.now() - 10 * day), notAfter: new Date(Date.now() - day), usage: 'clientAuth' }),
    early: oddClientCertificate(dir, 'nina', { notBefore: new Date(Date.now() + day), notAfter: new Date(Date.now() + 10 * day), usage: 'clientAuth' }),
    server: oddClientCertificate(dir, 'sven', { notBefore: new Date(Date.now() - day), notAfter: new Date(Date.now() + day), usage: 'serverAuth' }),
  };
  const registry = path.join(dir, 'clients.txt');
  writeRegistry(registry, [
    files.certs['alice']!.line,
    `${files.certs['bob']!.line} daemons=verify-ecdsa`,
    `${files.certs['carol']!.line} not-after=2020-01-01T00:00:00Z`,
    `${files.certs['rita']!.line} rate=2/s`,
    files.psks['pat']!.line,
    ...Object.values(odd).map((c) => c.line),
  ]);
  const keys = makeKeys(dir, 'ecdsa', 'channels');
  const common = ['--port', '0', '--state-dir', path.join(dir, 'state'), ...channelArgs(files, registry)];
  const signer = await startDaemon(['sign-ecdsa', '--key', keys.privateKeyFile, ...common, '--metrics-port', '0']);
  const verifier = await startDaemon(['verify-ecdsa', '--keyring', keys.publicKeyFile, ...common]);
  t.teardown(async () => {
    await signer.stop();
    await verifier.stop();
  });
  const alice = files.certs['alice']!;
  const signedBy = async (t: Test, tool: string, stdout: string): Promise<void> => {
    const reply = stdout.trim();
    t.match(reply, SIGNED, `${tool}: one signed reply`);
    const [sig] = signaturesOf(reply);
    t.ok(sig && opensslVerifies(dir, 'ecdsa', keys.publicKeyFile, Buffer.from('hello'), sig), `${tool}: openssl verifies the signature`);
  };

  await t.test('each bash client signs through its channel; the signature verifies through another', async (t) => {
    const bySslClient = await openssl(files, signer.port, 'hello\n', alice);
    await signedBy(t, 'openssl s_client (certificate)', bySslClient.stdout);
    const sig = signaturesOf(bySslClient.stdout)[0]!;
    t.equal((await openssl(files, verifier.port, `${sig}\n`, alice)).stdout.trim(), VALID.ecdsa, 'verify-ecdsa over TLS says valid');

    const byPsk = await openssl(files, signer.port, 'hello\n', { pskHex: pskHex(files, 'pat'), identity: 'pat' });
    await signedBy(t, 'openssl s_client (PSK)', byPsk.stdout);

    const socat = await runTool('socat', ['-', `OPENSSL:localhost:${signer.port},cert=${alice.cert},key=${alice.key},cafile=${files.serverCert}`], 'hello\n');
    await signedBy(t, 'socat', socat.stdout);

    const ncat = await runTool(
      'ncat',
      ['--ssl', '--ssl-cert', alice.cert, '--ssl-key', alice.key, '--ssl-verify', '--ssl-trustfile', files.serverCert, 'localhost', String(signer.port)],
      'hello\n',
    );
    await signedBy(t, 'ncat', ncat.stdout);

    const stunnel = await startStunnel(files, signer.port, 'alice');
    t.teardown(() => stunnel.stop());
    await signedBy(t, 'nc through stunnel', (await runTool('nc', ['127.0.0.1', String(stunnel.port)], 'hello\n')).stdout);

    const script = path.join(REPO_ROOT, 'scripts/request_client.sh');
    const env = { SIGNERD_SIGN_PORT: String(signer.port), SIGNERD_TLS_CA: files.serverCert, SIGNERD_TLS_CERT: alice.cert, SIGNERD_TLS_KEY: alice.key };
    await signedBy(t, 'request_client.sh', (await runTool(script, ['sign-ecdsa', '127.0.0.1', 'hello'], '', 10_000, env)).stdout);
    // A PSK goes through stunnel4 on file descriptors: the key is on no command line.
    const pskEnv = {
      SIGNERD_SIGN_PORT: String(signer.port),
      SIGNERD_TLS_CA: files.serverCert,
      SIGNERD_TLS_PSK_FILE: files.psks['pat']!.hexFile,
      SIGNERD_TLS_PSK_IDENTITY: 'pat',
    };
    const seen: string[] = [];
    const watcher = setInterval(() => {
      for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
        try {
          seen.push(fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1'));
        } catch {
          // Gone meanwhile.
        }
      }
    }, 5);
    const byScriptPsk = await runTool(script, ['sign-ecdsa', '127.0.0.1', 'hello'], '', 10_000, pskEnv);
    clearInterval(watcher);
    await signedBy(t, 'request_client.sh (PSK)', byScriptPsk.stdout);
    t.same([byScriptPsk.code, byScriptPsk.stderr, byScriptPsk.stdout.split('\n').length], [0, '', 2], 'request_client.sh (PSK): exit 0, the reply line alone');
    // A failed PSK channel (stunnel exits 0 whatever happens): exit 1, as over a certificate, and one line saying why.
    const wrongPsk = path.join(dir, 'wrong.psk');
    fs.writeFileSync(wrongPsk, Buffer.from('not-the-key-of-pat-at-all-012345').toString('hex') + '\n', { mode: 0o600 });
    const byWrongPsk = await runTool(script, ['sign-ecdsa', '127.0.0.1', 'hello'], '', 10_000, { ...pskEnv, SIGNERD_TLS_PSK_FILE: wrongPsk });
    t.equal(byWrongPsk.code, 1, 'request_client.sh with a wrong PSK: exit 1');
    t.equal(byWrongPsk.stdout, '', 'no reply');
    t.match(
      byWrongPsk.stderr,
      /^request_client\.sh: no reply over the PSK channel to 127\.0\.0\.1:\d+: TLS handshake failed [^\n]*\n$/,
      'one line: the handshake failed',
    );
    const closed = await freePort();
    const byNothing = await runTool(script, ['sign-ecdsa', '127.0.0.1', 'hello'], '', 10_000, { ...pskEnv, SIGNERD_SIGN_PORT: String(closed) });
    t.equal(byNothing.code, 1, 'request_client.sh (PSK) with nothing listening: exit 1');
    t.equal(byNothing.stdout, '', 'no reply');
    t.match(
      byNothing.stderr,
      new RegExp(`^request_client\\.sh: no reply over the PSK channel to 127\\.0\\.0\\.1:${closed}: connect: Connection refused[^\n]*\n$`),
      'one line: refused',
    );
    const byNothingCert = await runTool(script, ['sign-ecdsa', '127.0.0.1', 'hello'], '', 10_000, { ...env, SIGNERD_SIGN_PORT: String(closed) });
    t.same([byNothingCert.code, byNothingCert.stdout], [1, ''], 'request_client.sh (certificate) with nothing listening: exit 1, no reply');
    t.match(
      byNothingCert.stderr,
      new RegExp(`^request_client\\.sh: no reply over TLS from 127\\.0\\.0\\.1:${closed}: [^\n]*Connection refused[^\n]*\n$`),
      'and one line',
    );
    const refusedCert = await runTool(script, ['sign-ecdsa', '127.0.0.1', 'hello'], '', 10_000, {
      ...env,
      SIGNERD_TLS_CERT: files.certs['mallory']!.cert,
      SIGNERD_TLS_KEY: files.certs['mallory']!.key,
    });
    t.match(refusedCert.stdout, /^ERR UNAUTHENTICATED /, "a refusal is the daemon's own line");
    t.equal(refusedCert.stderr, '', 'with nothing added');
    t.ok(seen.length > 0, 'command lines were watched meanwhile');
    const pskText = Buffer.from(pskHex(files, 'pat'), 'hex').toString('latin1');
    t.notOk(
      seen.some((line) => line.includes(pskHex(files, 'pat')) || line.includes(pskText)),
      'the PSK appeared on no command line, as hex or as text',
    );
  });

  await t.test('refusals: who you are decides, one line each, and the daemon keeps serving', async (t) => {
    t.match((await openssl(files, signer.port, 'hello\n', null)).stdout, /^ERR UNAUTHENTICATED /, 'no certificate');
    t.match((await openssl(files, signer.port, 'hello\n', files.certs['mallory']!)).stdout, /^ERR UNAUTHENTICATED /, 'an unregistered certificate');
    t.match((await openssl(files, signer.port, 'hello\n', files.certs['carol']!)).stdout, /^ERR UNAUTHENTICATED /, 'a not-after in the past');
    t.match((await openssl(files, signer.port, 'hello\n', files.certs['bob']!)).stdout, /^ERR FORBIDDEN /, 'daemons= excludes sign-ecdsa');
    t.match(
      (await openssl(files, signer.port, 'hello\n', odd.expired)).stdout,
      /^ERR UNAUTHENTICATED certificate [0-9a-f]{16}… expired at /,
      'an expired certificate',
    );
    t.match(
      (await openssl(files, signer.port, 'hello\n', odd.early)).stdout,
      /^ERR UNAUTHENTICATED certificate [0-9a-f]{16}… is not valid before /,
      'one not yet valid',
    );
    t.match(
      (await openssl(files, signer.port, 'hello\n', odd.server)).stdout,
      /^ERR UNAUTHENTICATED .* not for TLS client authentication/,
      "a server's certificate",
    );
    const sig = signaturesOf((await openssl(files, signer.port, 'hello\n', alice)).stdout)[0]!;
    t.equal((await openssl(files, verifier.port, `${sig}\n`, files.certs['bob']!)).stdout.trim(), VALID.ecdsa, 'bob may use verify-ecdsa');
    const refusals = signer.logs.filter((l) => /^connections? refused$/.test(String(l['msg'])));
    t.ok(refusals.length > 0, 'the refusals are logged');
    t.same(
      refusals.filter((l) => !['UNAUTHENTICATED', 'FORBIDDEN'].includes(String(l['outcome'])) || l['channel'] !== true),
      [],
      'each with the code the client read (a listed one) and channel: true',
    );

    const wrong = await openssl(files, signer.port, 'hello\n', { pskHex: 'ab'.repeat(36), identity: 'pat' });
    t.equal(wrong.stdout, '', 'a wrong PSK: no reply');
    t.not(wrong.code, 0, 'a wrong PSK: the handshake fails');
    const unknown = await openssl(files, signer.port, 'hello\n', { pskHex: 'ab'.repeat(36), identity: 'nobody' });
    t.equal(unknown.stdout, '', 'an unknown PSK identity: no reply either');
    await signedBy(t, 'after the refusals, a registered client', (await openssl(files, signer.port, 'hello\n', alice)).stdout);
  });

  await t.test('over its rate a client is told RATE_LIMITED and when to retry; others are not slowed', async (t) => {
    const rita = files.certs['rita']!;
    // One write: the six lines arrive together, as from a client that pipelines them.
    const replies = (await exchangeOverTls(signer.port, rita, files.serverCert, 'hello\n'.repeat(6))).trim().split('\n');
    t.equal(replies.length, 6, `one reply per line: ${JSON.stringify(replies)}`);
    const limited = replies.filter((r) => r.startsWith('ERR RATE_LIMITED '));
    t.ok(limited.length >= 3, `rate=2/s: most of 6 at once are refused (${limited.length})`);
    t.match(limited[0], /retry in \d+ ms/, 'the refusal says when to retry');
    // One-shot, once the bucket has refilled: opening the channel leaves its first request a token
    // (with rate=2/s the open took both, and a one-shot client could never sign).
    await sleep(1_100);
    await signedBy(t, 'rita one-shot after a pause', (await openssl(files, signer.port, 'hello\n', rita)).stdout);

    // A handshake flood from one identity: each channel costs tokens, so it is throttled at once.
    const outcomes = await Promise.all(Array.from({ length: 20 }, () => firstLine(signer.port, rita, files.serverCert)));
    t.ok(
      outcomes.some((o) => /^ERR (RATE_LIMITED|FORBIDDEN) /.test(o)),
      `a handshake flood is refused (${[...new Set(outcomes.map((o) => o.split(' ').slice(0, 2).join(' ')))].join(', ')})`,
    );
    await signedBy(t, 'another client during the flood', (await openssl(files, signer.port, 'hello\n', alice)).stdout);
  });

  await t.test('authentication failures are counted by reason; the metrics show no credential', async (t) => {
    const { body } = await get(metricsPortOf(signer), '/metrics');
    for (const reason of ['UNAUTHENTICATED', 'FORBIDDEN', 'tls-handshake']) {
      t.ok((sample(body, 'signerd_auth_failures_total', { reason }) ?? 0) >= 1, `signerd_auth_failures_total{reason="${reason}"}`);
    }
    t.notOk(body.includes(pskHex(files, 'pat')) || body.includes('alice'), 'no key and no client name in the metrics');
    const notAfter = Date.parse(new crypto.X509Certificate(fs.readFileSync(files.serverCert)).validTo) / 1000;
    t.equal(sample(body, 'signerd_tls_certificate_expiry_timestamp_seconds', {}), notAfter, "the server certificate's expiry, to alert on");
  });

  await t.test('every request log line names its client; no credential is ever logged', async (t) => {
    const requests = signer.logs.filter((l) => l['msg'] === 'request' && l['outcome'] === 'ok');
    t.ok(requests.length > 0 && requests.every((l) => typeof l['client'] === 'string'), 'each request line has a client');
    t.ok(
      requests.some((l) => l['client'] === 'pat'),
      'a PSK client is logged by its name',
    );
    const logs = JSON.stringify(signer.logs) + JSON.stringify(verifier.logs) + signer.stderr() + verifier.stderr();
    const secrets = [pskHex(files, 'pat'), fs.readFileSync(files.psks['pat']!.stunnelFile, 'utf8').trim().split(':')[1]!, ...keyBodies(files.serverKey)];
    for (const secret of secrets) t.notOk(logs.includes(secret), 'a secret is absent from the logs');
  });
});

/** Everything a channel answers to `input` (written at once), from a node TLS client (no process per handshake). */
function exchangeOverTls(port: number, who: { cert: string; key: string }, ca: string, input: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, cert: fs.readFileSync(who.cert), key: fs.readFileSync(who.key), ca: fs.readFileSync(ca) }, () =>
      socket.write(input),
    );
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (data += d));
    socket.on('error', () => {});
    socket.on('close', () => resolve(data));
    socket.setTimeout(10_000, () => socket.destroy());
  });
}

/** The first line a channel answers to one request. */
async function firstLine(port: number, who: { cert: string; key: string }, ca: string): Promise<string> {
  return (await exchangeOverTls(port, who, ca, 'hello\n')).split('\n')[0] ?? '';
}

/** The base64 lines of a PEM private key: none of them may appear anywhere. */
function keyBodies(file: string): string[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.length > 20 && !l.startsWith('-----'));
}

t.test('plain TCP connects that close before the handshake give their places back', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signerd-channels-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const files = await enroll(dir, ['alice'], []);
  const registry = path.join(dir, 'clients.txt');
  writeRegistry(registry, [files.certs['alice']!.line]);
  const keys = makeKeys(dir, 'ecdsa', 'scanned');
  const signArgs = (state: string): string[] => channelSignArgs(files, keys.privateKeyFile, path.join(dir, state), registry);
  // Two places and 64 handshakes pending: a port scan of 200 connects once held every one for good.
  const signer = await startDaemon([...signArgs('state'), '--connections-max', '2']);
  t.teardown(() => signer.stop());
  for (let i = 0; i < 200; i++) {
    await new Promise<void>((resolve) => {
      const socket = net.connect(signer.port, '127.0.0.1', () => {
        socket.destroy();
        resolve();
      });
      socket.on('error', () => resolve());
    });
  }
  // The metrics listener is plain HTTP even beside TLS channels: beyond loopback only with --insecure-plaintext.
  const metricsOut = await runSignerd([...signArgs('state2'), '--metrics-port', '0', '--metrics-host', '0.0.0.0']);
  t.equal(metricsOut.code, 78, 'metrics on 0.0.0.0 beside TLS channels: refused');
  t.match(metricsOut.stderr, /refusing to serve metrics and readiness on 0\.0\.0\.0: the operations listener is plain HTTP/);
  const started = Date.now();
  const served = await until(
    async () => /^\(b'hello', b'[0-9a-f]{192}'\)$/.test(await firstLine(signer.port, files.certs['alice']!, files.serverCert)),
    20_000,
    500,
  );
  t.ok(served, `a registered client is served again (${Date.now() - started} ms; the handshake deadline is 10 s)`);
});

t.test('idle sockets that never start a handshake cannot keep a registered client out', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signerd-channels-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const files = await enroll(dir, ['alice'], []);
  const registry = path.join(dir, 'clients.txt');
  writeRegistry(registry, [files.certs['alice']!.line]);
  const keys = makeKeys(dir, 'ecdsa', 'idle-flood');
  // Four places and 64 handshakes: 300 silent sockets, held, once took every place until the handshake deadline.
  const signer = await startDaemon([...channelSignArgs(files, keys.privateKeyFile, path.join(dir, 'state'), registry), '--connections-max', '4']);
  t.teardown(() => signer.stop());
  const idle: net.Socket[] = [];
  t.teardown(() => idle.forEach((s) => s.destroy()));
  for (let i = 0; i < 300; i++) {
    await new Promise<void>((resolve) => {
      const socket = net.connect(signer.port, '127.0.0.1', () => resolve());
      socket.on('error', () => resolve());
      idle.push(socket);
    });
  }
  t.match(await firstLine(signer.port, files.certs['alice']!, files.serverCert), /^\(b'hello', b'[0-9a-f]{192}'\)$/, 'alice is served while they are held');
  t.ok(
    await until(() => signer.logs.some((l) => /^connections? refused$/.test(String(l['msg'])) && l['outcome'] === 'BUSY'), 5_000),
    'the pushed-out handshakes are logged (BUSY, once a second)',
  );
  idle.forEach((s) => s.destroy());
});

t.test("one client's channels hold at most half of --connections-max; other clients keep their places", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signerd-channels-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const files = await enroll(dir, ['alice', 'eve'], []);
  const registry = path.join(dir, 'clients.txt');
  writeRegistry(registry, [files.certs['alice']!.line, files.certs['eve']!.line]);
  const keys = makeKeys(dir, 'ecdsa', 'share');
  const signer = await startDaemon([...channelSignArgs(files, keys.privateKeyFile, path.join(dir, 'state'), registry), '--connections-max', '4']);
  t.teardown(() => signer.stop());
  const eve = files.certs['eve']!;
  // Eve opens channels and sends nothing: two are hers to hold, a third is refused.
  const held: tls.TLSSocket[] = [];
  t.teardown(() => held.forEach((s) => s.destroy()));
  for (let i = 0; i < 2; i++) {
    held.push(
      await new Promise<tls.TLSSocket>((resolve, reject) => {
        const s = tls.connect(
          { host: '127.0.0.1', port: signer.port, cert: fs.readFileSync(eve.cert), key: fs.readFileSync(eve.key), ca: fs.readFileSync(files.serverCert) },
          () => resolve(s),
        );
        s.on('error', reject);
      }),
    );
  }
  await sleep(200);
  t.match(
    await firstLine(signer.port, eve, files.serverCert),
    /^ERR BUSY client eve has 2 channels open \(at most 2, half of --connections-max\)/,
    "eve's third channel: BUSY",
  );
  t.match(
    await firstLine(signer.port, files.certs['alice']!, files.serverCert),
    /^\(b'hello', b'[0-9a-f]{192}'\)$/,
    'alice is served beside eve holding her share',
  );
  // Closed here, not in a teardown: the daemon's stop would otherwise wait out its drain for them.
  held.forEach((s) => s.destroy());
});

t.test('a server certificate close to its expiry is warned of at start', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signerd-channels-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const made = await runSignerd(['tls', 'selfsigned', '--out', path.join(dir, 'server'), '--days', '10']);
  t.equal(made.code, 0, made.stderr);
  const keys = makeKeys(dir, 'ecdsa', 'expiring');
  const registry = path.join(dir, 'clients.txt');
  writeRegistry(registry, []);
  const files = { dir, serverCert: path.join(dir, 'server/server.crt'), serverKey: path.join(dir, 'server/server.key'), certs: {}, psks: {} };
  const signer = await startDaemon(channelSignArgs(files, keys.privateKeyFile, path.join(dir, 'state'), registry));
  t.teardown(() => signer.stop());
  const warned = signer.logs.find((l) => /^TLS certificate expires soon/.test(String(l['msg'])));
  t.equal(warned?.['level'], 'warn');
  t.ok(warned?.['daysLeft'] === 9 || warned?.['daysLeft'] === 10, `days left: ${String(warned?.['daysLeft'])}`);
});
