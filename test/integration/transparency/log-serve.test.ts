// `signerd log serve`: the log's checkpoint and tiles over HTTP, read-only, as a mirror or witness
// fetches them. curl gets the very bytes on disk with the right caching; the Go verifier reads the
// whole log over HTTP; a mirror made with curl passes `signerd log audit`; nothing else is served;
// `signerd log mirror` follows the log and refuses a fork; a daemons=log-serve client reads, never signs.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { runSignerd, startDaemon, type RunningDaemon } from '../../helpers/daemon.js';
import { needGo } from '../../helpers/go-tools.js';
import { needTools } from '../../helpers/tools.js';
import { get, metricsPortOf, sample, waitUntil } from '../../helpers/operations.js';
import { channelSignArgs, enroll, openssl, writeRegistry } from '../channels/channel-fixtures.js';
import { makeKeys } from '../../helpers/signature-fixtures.js';
import { appendRange, copyDir, makeKey, openLog, runGo, signatureOf } from './fixtures.js';

interface Fetched {
  status: number;
  headers: string;
  body: Buffer;
}

function curl(port: number, urlPath: string, ...extra: string[]): Fetched {
  const out = execFileSync('curl', ['-sS', '--path-as-is', '-D', '-', ...extra, `http://127.0.0.1:${port}${urlPath}`], { timeout: 10_000 });
  const split = out.indexOf('\r\n\r\n');
  const headers = out.subarray(0, split).toString('latin1');
  return { status: Number(/^HTTP\/1\.1 (\d+)/.exec(headers)?.[1]), headers: headers.toLowerCase(), body: out.subarray(split + 4) };
}

/** The public files of a log directory, as paths relative to it (the sequencer's database excluded). */
function publicFiles(dir: string, rel = ''): string[] {
  return fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap((e) => {
    const name = path.posix.join(rel, e.name);
    if (e.isDirectory()) return publicFiles(dir, name);
    return name === 'checkpoint' || name.startsWith('tile/') ? [name] : [];
  });
}

t.test('signerd log serve', { ...needTools('curl'), ...needGo() }, async (t) => {
  const dir = t.testdir();
  const logDir = path.join(dir, 'log');
  const { keyFile, vkey } = await makeKey(dir);
  const log = await openLog(logDir, keyFile);
  await appendRange(log, 0, 300); // one full level-0 tile and a partial one
  await log.publish();
  await log.close();
  // A symlink out of the log where a tile could be: never followed.
  fs.mkdirSync(path.join(logDir, 'tile/5'), { recursive: true });
  fs.symlinkSync('/etc/passwd', path.join(logDir, 'tile/5/000'));
  // And a folder where a level's tiles could be, leading out to a file of the right name.
  fs.mkdirSync(path.join(dir, 'outside/000.p'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'outside/000.p/1'), 'not the log\n');
  fs.symlinkSync(path.join(dir, 'outside'), path.join(logDir, 'tile/4'));

  const server: RunningDaemon = await startDaemon(['log', 'serve', '--transparency-log', logDir, '--port', '0', '--metrics-port', '0']);
  t.teardown(() => server.stop());
  const port = server.port;

  await t.test('the files on disk, byte for byte, with their caching', async (t) => {
    const checkpoint = curl(port, '/checkpoint');
    t.equal(checkpoint.status, 200);
    t.same(checkpoint.body, fs.readFileSync(path.join(logDir, 'checkpoint')), 'the checkpoint');
    t.match(checkpoint.headers, /cache-control: no-cache/, 'the checkpoint moves on: revalidated');
    t.match(checkpoint.headers, /content-type: text\/plain/);
    const full = curl(port, '/tile/0/000');
    t.same(full.body, fs.readFileSync(path.join(logDir, 'tile/0/000')), 'a full tile');
    t.equal(full.body.length, 256 * 32);
    t.match(full.headers, /cache-control: public, max-age=31536000, immutable/, 'a full tile never changes');
    const partial = curl(port, '/tile/0/001.p/44');
    t.same(partial.body, fs.readFileSync(path.join(logDir, 'tile/0/001.p/44')), 'a partial tile');
    t.match(partial.headers, /cache-control: no-cache/, 'a partial tile goes once its tile is full');
    t.same(curl(port, '/tile/entries/000').body, fs.readFileSync(path.join(logDir, 'tile/entries/000')), 'an entry bundle');
    const head = curl(port, '/checkpoint', '-I');
    t.equal(head.status, 200, 'HEAD');
    t.match(head.headers, new RegExp(`content-length: ${fs.statSync(path.join(logDir, 'checkpoint')).size}`));
    t.notMatch(head.body.toString(), /signerd\.test\/log/, 'no body');
  });

  await t.test('the Go verifier reads and checks the whole log over HTTP', async (t) => {
    const r = runGo('tiles', vkey, `http://127.0.0.1:${port}`);
    t.equal(r.code, 0, r.out);
    t.match(r.out, /^OK tiles: 300 entries/);
  });

  await t.test('a mirror fetched with curl passes signerd log audit', async (t) => {
    const mirror = path.join(dir, 'mirror');
    const files = publicFiles(logDir).filter((f) => !f.startsWith('tile/5/') && f !== 'tile/4');
    for (const file of files) {
      fs.mkdirSync(path.dirname(path.join(mirror, file)), { recursive: true });
      execFileSync('curl', ['-sSf', '-o', path.join(mirror, file), `http://127.0.0.1:${port}/${file}`], { timeout: 10_000 });
    }
    const audit = await runSignerd(['log', 'audit', mirror, '--log-key', vkey]);
    t.equal(audit.code, 0, audit.stderr);
    t.match(audit.stdout, /entries\s+300/);
    t.match(audit.stdout, /audit passed/);
  });

  await t.test('nothing else: no database, no traversal, no symlink, no writes', async (t) => {
    for (const p of [
      '/sequencer.sqlite',
      '/tile/../sequencer.sqlite',
      '/tile/0/../../sequencer.sqlite',
      '/tile/0/000.p/0',
      '/tile/0/000.p/256',
      '/tile/64/000',
      '/tile/0/1',
      '/tile/0/x1/000',
      '/tile/5/000',
      '/tile/4/000.p/1',
      '/',
      '/tile/0/000/',
    ]) {
      const r = curl(port, p);
      t.equal(r.status, 404, `${p}: 404`);
      t.match(r.body.toString(), /^ERR NOT_FOUND /, `${p}: one error line`);
    }
    t.equal(curl(port, '/tile/0/002').status, 404, 'a tile the log does not have yet');
    const post = curl(port, '/checkpoint', '-X', 'POST', '--data', 'x');
    t.equal(post.status, 405, 'POST: 405');
    t.match(post.headers, /allow: get, head/);
    t.match(post.headers, /\r\nx-signerd-error-code: method_not_allowed\r\n/, 'the code in its header (this helper lowercases headers)');
    t.equal(curl(port, '/tile/0/000', '-X', 'DELETE').status, 405, 'DELETE: 405');
    const elsewhere = curl(port, '/nothing/here', '-X', 'POST', '--data', 'x');
    t.equal(elsewhere.status, 405, 'POST on a path the log does not have: 405 too (every path is read-only)');
    t.match(elsewhere.headers, /allow: get, head/);
    t.same(curl(port, '/tile/0/000').body, fs.readFileSync(path.join(logDir, 'tile/0/000')), 'the tile is still there');
  });

  await t.test('signerd log mirror follows the served log, and refuses a fork or a wrong key', async (t) => {
    const mirror = path.join(dir, 'follower');
    const url = `http://127.0.0.1:${port}`;
    const first = await runSignerd(['log', 'mirror', url, '--out', mirror, '--log-key', vkey]);
    t.equal(first.code, 0, first.stderr);
    t.match(first.stdout, /size 300 /);
    t.match(first.stdout, /files {6}\d+ fetched, 0 already mirrored/);
    t.match(first.stdout, /audit passed/);
    t.equal(runGo('tiles', vkey, mirror).code, 0, 'the Go verifier accepts the mirror');

    // The log grows (and forks elsewhere: a copy at size 300 that goes on differently).
    const forkDir = copyDir(logDir, path.join(dir, 'fork'));
    const grown = await openLog(logDir, keyFile);
    await appendRange(grown, 300, 600);
    await grown.publish();
    await grown.close();
    const fork = await openLog(forkDir, keyFile);
    await Promise.all(Array.from({ length: 350 }, (_, i) => fork.append({ kind: 'revoke', source: 'admin', signature: signatureOf('fork', i) })));
    await fork.publish();
    await fork.close();

    const second = await runSignerd(['log', 'mirror', url, '--out', mirror, '--log-key', vkey]);
    t.equal(second.code, 0, second.stderr);
    t.match(second.stdout, /size 600 /);
    t.match(second.stdout, /previous {3}size 300/);
    t.match(second.stdout, /files {6}\d+ fetched, [1-9]\d* already mirrored/, 'full tiles are not fetched again');
    const at600 = fs.readFileSync(path.join(mirror, 'checkpoint'));

    const forkServer = await startDaemon(['log', 'serve', '--transparency-log', forkDir, '--port', '0']);
    t.teardown(() => forkServer.stop());
    const forked = await runSignerd(['log', 'mirror', `http://127.0.0.1:${forkServer.port}/`, '--out', mirror, '--log-key', vkey]);
    t.equal(forked.code, 1, 'a fork: exit 1');
    // Both trees have two full level-0 tiles, so both have level-1 tile 000.p/2, and they differ.
    t.match(forked.stderr, /problem: tile\/1\/000\.p\/2: served differently from the mirror's copy \(the log forked\)/);
    t.match(forked.stdout, /mirror FAILED: .*the mirror is unchanged/);
    t.same(fs.readFileSync(path.join(mirror, 'checkpoint')), at600, 'the mirror keeps its checkpoint');
    const audit = await runSignerd(['log', 'audit', mirror, '--log-key', vkey]);
    t.equal(audit.code, 0, `the mirror still audits clean: ${audit.stderr}`);

    const other = await makeKey(dir, 'other.test/log');
    const wrongKey = await runSignerd(['log', 'mirror', url, '--out', mirror, '--log-key', other.vkey]);
    t.equal(wrongKey.code, 1, 'a checkpoint that does not verify: exit 1');
    t.match(wrongKey.stderr, /does not verify/);
    t.same(fs.readFileSync(path.join(mirror, 'checkpoint')), at600);

    const unkeyed = await runSignerd(['log', 'mirror', url, '--out', path.join(dir, 'unkeyed')]);
    t.equal(unkeyed.code, 78, 'no --log-key: refused, nothing mirrored (a forged log would otherwise pass)');
    t.match(unkeyed.stderr, /--log-key/);
    t.notOk(fs.existsSync(path.join(dir, 'unkeyed')), 'not even its directory');
    const down = await runSignerd(['log', 'mirror', 'http://127.0.0.1:1/', '--out', mirror, '--log-key', vkey]);
    t.equal(down.code, 69, 'nothing listening: exit 69, as for an unavailable log');
    const notHttp = await runSignerd(['log', 'mirror', 'file:///etc', '--out', mirror, '--log-key', vkey]);
    t.equal(notHttp.code, 78, 'not http(s): exit 78');
  });

  await t.test('readiness and metrics, as every daemon has them', async (t) => {
    const metricsPort = metricsPortOf(server);
    const ready = await get(metricsPort, '/readyz');
    t.equal(ready.status, 200, '/readyz');
    t.match(ready.body, /log directory/, 'readiness names the log directory it checks');
    const metrics = (await get(metricsPort, '/metrics')).body;
    t.ok((sample(metrics, 'signerd_requests_total', { kind: 'http', outcome: 'ok' }) ?? 0) > 10, 'served requests counted');
    t.ok((sample(metrics, 'signerd_requests_total', { kind: 'http', outcome: 'NOT_FOUND' }) ?? 0) >= 11, 'refusals counted by code');
  });

  await t.test('a log directory moved away: 503 LOG_UNAVAILABLE (an outage a mirror retries), not 404', async (t) => {
    fs.renameSync(logDir, `${logDir}.away`);
    for (const p of ['/checkpoint', '/tile/0/000']) {
      const r = curl(port, p);
      t.equal(r.status, 503, `${p}: 503`);
      t.match(r.headers, /x-signerd-error-code: log_unavailable/);
    }
    fs.renameSync(`${logDir}.away`, logDir);
    t.equal(curl(port, '/checkpoint').status, 200, 'back: served again');
  });

  await t.test('one log record per request; SIGTERM stops it cleanly', async (t) => {
    t.equal(await server.stop(), 0, 'exit 0 on SIGTERM');
    await waitUntil(async () => server.logs.some((l) => l['msg'] === 'stopped'), 5_000, 'the stopped record');
    const requests = server.logs.filter((l) => l['msg'] === 'request');
    t.ok(requests.length >= 20, `${requests.length} request records`);
    t.ok(
      requests.some((l) => l['outcome'] === 'NOT_FOUND' && l['status'] === 404),
      'refusals are recorded with their code',
    );
    t.notOk(
      requests.some((l) => l['outcome'] === 'client-gone'),
      'a file sent whole is ok even when curl hangs up before the file stream ends',
    );
    t.ok(requests.some((l) => l['outcome'] === 'ok' && l['path'] === '/tile/0/000' && l['status'] === 200));
  });
});

t.test('a client that stops reading is cut after --reply-stall-ms-max; others are still served', { ...needTools('curl') }, async (t) => {
  const dir = t.testdir();
  // A 64 MiB entry bundle (sparse): far more than the kernel's socket buffers hold.
  fs.mkdirSync(path.join(dir, 'tile/entries/x001'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'tile/entries/x001/000'), '');
  fs.truncateSync(path.join(dir, 'tile/entries/x001/000'), 64 * 1024 * 1024);
  fs.writeFileSync(path.join(dir, 'checkpoint'), 'a checkpoint\n');
  const server = await startDaemon(['log', 'serve', '--transparency-log', dir, '--port', '0', '--reply-stall-ms-max', '500']);
  t.teardown(() => server.stop());
  const stalled = net.connect(server.port, '127.0.0.1');
  stalled.on('error', () => {});
  stalled.write('GET /tile/entries/x001/000 HTTP/1.1\r\nhost: x\r\n\r\n');
  stalled.pause(); // reads nothing more
  const record = await waitUntil(
    async () => server.logs.some((l) => l['msg'] === 'request' && l['path'] === '/tile/entries/x001/000'),
    10_000,
    'the stalled reply is cut and recorded',
  );
  const cut = server.logs.find((l) => l['msg'] === 'request' && l['path'] === '/tile/entries/x001/000')!;
  t.equal(cut['outcome'], 'client-gone', 'recorded as a client that went away');
  t.ok((cut['ms'] as number) >= 500, `cut after ${String(cut['ms'])} ms without progress (found in ${record} ms)`);
  t.equal(curl(server.port, '/checkpoint').body.toString(), 'a checkpoint\n', 'the next client is served');
  stalled.destroy();
});

t.test('signerd log serve refuses a bad start with exit 78', async (t) => {
  const dir = t.testdir();
  const plaintext = await runSignerd(['log', 'serve', '--transparency-log', dir, '--host', '0.0.0.0', '--port', '0']);
  t.equal(plaintext.code, 78, 'plaintext beyond loopback');
  t.match(plaintext.stderr, /CONFIG_INVALID: refusing to listen on 0\.0\.0\.0 without TLS/);
  const missing = await runSignerd(['log', 'serve', '--port', '0']);
  t.equal(missing.code, 78, 'no log named');
  t.match(missing.stderr, /--transparency-log is required/);
  const notDir = await runSignerd(['log', 'serve', '--transparency-log', path.join(dir, 'nope'), '--port', '0']);
  t.equal(notDir.code, 78, 'not a directory');
  t.match(notDir.stderr, /not a directory/);
});

t.test('over TLS client channels: log serve, and log mirror with a registered client certificate', needTools('curl', 'openssl'), async (t) => {
  const dir = t.testdir();
  const files = await enroll(path.join(dir, 'channels'), ['witness', 'stranger'], []);
  const registry = path.join(dir, 'clients');
  // daemons=log-serve: the witness may read the log and use no signing daemon (the same registry).
  writeRegistry(registry, [`${files.certs['witness']!.line} daemons=log-serve`]);
  const logDir = path.join(dir, 'log');
  const { keyFile, vkey } = await makeKey(dir);
  const log = await openLog(logDir, keyFile);
  await appendRange(log, 0, 40);
  await log.publish();
  await log.close();
  const server = await startDaemon([
    'log',
    'serve',
    '--transparency-log',
    logDir,
    '--port',
    '0',
    '--tls-cert',
    files.serverCert,
    '--tls-key',
    files.serverKey,
    '--clients',
    registry,
  ]);
  t.teardown(() => server.stop());
  const url = `https://127.0.0.1:${server.port}/`;
  const as = (who: string): string[] => ['--tls-cert', files.certs[who]!.cert, '--tls-key', files.certs[who]!.key];

  const witness = await runSignerd(['log', 'mirror', url, '--out', path.join(dir, 'w'), '--log-key', vkey, '--tls-ca', files.serverCert, ...as('witness')]);
  t.equal(witness.code, 0, `the registered client mirrors the log: ${witness.stderr}`);
  t.match(witness.stdout, /size 40 .*\n.*audit passed/s);
  const checkpoint = execFileSync(
    'curl',
    [
      '-sS',
      '--max-time',
      '10',
      '--cacert',
      files.serverCert,
      '--cert',
      files.certs['witness']!.cert,
      '--key',
      files.certs['witness']!.key,
      '-w',
      '\n%{http_code}',
      `${url}checkpoint`,
    ],
    { encoding: 'utf8', timeout: 15_000 },
  );
  t.equal(checkpoint.split('\n').pop(), '200', 'daemons=log-serve: curl GETs /checkpoint over TLS');
  t.equal(checkpoint.slice(0, checkpoint.lastIndexOf('\n')), fs.readFileSync(path.join(logDir, 'checkpoint'), 'utf8'), 'the checkpoint on disk');
  const keys = makeKeys(dir, 'ecdsa', 'channels');
  const signer = await startDaemon(channelSignArgs(files, keys.privateKeyFile, path.join(dir, 'state'), registry));
  t.teardown(() => signer.stop());
  t.match(
    (await openssl(files, signer.port, 'hello\n', files.certs['witness']!)).stdout,
    /^ERR FORBIDDEN client witness may not use sign-ecdsa/,
    'and is FORBIDDEN on sign-ecdsa',
  );
  const stranger = await runSignerd(['log', 'mirror', url, '--out', path.join(dir, 's'), '--log-key', vkey, '--tls-ca', files.serverCert, ...as('stranger')]);
  t.equal(stranger.code, 69, 'an unregistered certificate is refused');
  t.notOk(fs.existsSync(path.join(dir, 's', 'checkpoint')), 'and mirrors nothing');
  const untrusted = await runSignerd(['log', 'mirror', url, '--out', path.join(dir, 'u'), '--log-key', vkey, ...as('witness')]);
  t.equal(untrusted.code, 69, 'a server certificate the mirror does not trust is refused');
  const plain = await runSignerd([
    'log',
    'mirror',
    url,
    '--out',
    path.join(dir, 'p'),
    '--log-key',
    vkey,
    '--tls-ca',
    files.serverCert,
    '--tls-cert',
    files.certs['witness']!.cert,
  ]);
  t.equal(plain.code, 78, '--tls-cert without --tls-key');
  fs.chmodSync(files.certs['witness']!.key, 0o644);
  const open = await runSignerd(['log', 'mirror', url, '--out', path.join(dir, 'o'), '--log-key', vkey, '--tls-ca', files.serverCert, ...as('witness')]);
  t.equal(open.code, 78, 'a client key readable by others is refused');
  t.match(open.stderr, /KEY_FILE_INSECURE/);
});
