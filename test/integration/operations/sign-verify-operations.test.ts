// The operations listener of the sign and verify daemons, driven for real: promtool accepts /metrics,
// counters and histogram counts equal the requests per outcome, /readyz follows the store (a SQLite
// state directory made unwritable, a Redis killed and brought back, a PostgreSQL stopped and started)
// within 2 s (Redis, PostgreSQL: their connection events start a probe) or a probe interval and deadline
// (the state directory), stays 200 under load, and neither /metrics nor /readyz shows a payload or key material.
import t, { type Test } from 'tap';
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { startDaemon, type RunningDaemon } from '../../helpers/daemon.js';
import { exchange, request } from '../../helpers/line-client.js';
import { get, metricsPortOf, promtoolCheck, readinessFollowsOutage, sample, waitUntil } from '../../helpers/operations.js';
import { needPostgres, startPostgres } from '../../helpers/postgres-server.js';
import { startRedis } from '../../helpers/redis-server.js';
import { makeKeys, signaturesOf } from '../../helpers/signature-fixtures.js';
import { needTools } from '../../helpers/tools.js';
import { sleep } from '../../helpers/polling.js';
import { PROBE_MS_MAX, STORE_PROBE_INTERVAL_MS } from '../../../lib/limits.js';
import { SQLITE_FILE } from '../../../lib/store/sqlite-validity-store.js';

/**
 * How soon /readyz follows the state directory (docs/metrics.md): the next probe starts within
 * STORE_PROBE_INTERVAL_MS and answers within PROBE_MS_MAX; plus half a second for a loaded machine.
 */
const FOLLOWS_MS = STORE_PROBE_INTERVAL_MS + PROBE_MS_MAX + 500;

const dir = t.testdir();
const PAYLOAD = 'payload-that-must-not-leak';

/** Request records in the daemon's log, by outcome. */
function outcomesLogged(daemon: RunningDaemon): Map<string, number> {
  const counts = new Map<string, number>();
  for (const l of daemon.logs) if (l['msg'] === 'request') counts.set(String(l['outcome']), (counts.get(String(l['outcome'])) ?? 0) + 1);
  return counts;
}

const readyIs = (port: number, status: number) => async () => (await get(port, '/readyz')).status === status;

/** Makes a directory unwritable even for root (immutable), or by mode for anyone else; returns the undo. */
function makeUnwritable(target: string): () => void {
  if (process.getuid?.() === 0) {
    execFileSync('chattr', ['+i', target]);
    return () => execFileSync('chattr', ['-i', target]);
  }
  fs.chmodSync(target, 0o500);
  return () => fs.chmodSync(target, 0o700);
}

t.test('a SQLite lock another connection holds stalls only the requests that need it', async (t) => {
  const keys = makeKeys(dir, 'ecdsa', 'lock');
  const state = path.join(dir, 'lock-state');
  const sign = await startDaemon([
    'sign-ecdsa',
    '--key',
    keys.privateKeyFile,
    '--state-dir',
    state,
    '--port',
    '0',
    '--metrics-port',
    '0',
    '--store-timeout-ms',
    '5000',
  ]);
  t.teardown(() => sign.stop());
  // The verify daemon, an admin command or an operator's sqlite3 shell in a write transaction.
  const holder = new Database(path.join(state, SQLITE_FILE));
  t.teardown(() => holder.close());
  holder.exec('BEGIN IMMEDIATE');
  let answered = false;
  const signing = request(sign.port, 'waits-for-the-lock').finally(() => (answered = true));
  await sleep(300); // the sign has reached the daemon and waits for the lock
  t.equal((await get(metricsPortOf(sign), '/healthz')).status, 200, 'the daemon answers meanwhile');
  t.notOk(answered, 'the sign is still waiting');
  holder.exec('COMMIT');
  t.equal(signaturesOf(await signing).length, 1, 'and signs once the lock is free, within its store deadline');
});

t.test('sign and verify on SQLite: metrics, readiness, the state directory made unwritable', needTools('promtool', 'chattr'), async (t) => {
  const keys = makeKeys(dir, 'ecdsa', 'ops');
  const state = path.join(dir, 'state');
  const common = ['--state-dir', state, '--port', '0', '--metrics-port', '0'];
  const sign = await startDaemon(['sign-ecdsa', '--key', keys.privateKeyFile, ...common]);
  t.teardown(() => sign.stop());
  const verify = await startDaemon(['verify-ecdsa', '--keyring', keys.publicKeyFile, ...common]);
  t.teardown(() => verify.stop());
  const signOps = metricsPortOf(sign);
  const verifyOps = metricsPortOf(verify);
  await waitUntil(readyIs(signOps, 200), 2_000, 'sign ready');
  await waitUntil(readyIs(verifyOps, 200), 2_000, 'verify ready');
  t.equal((await get(signOps, '/healthz')).status, 200);
  t.equal((await get(signOps, '/nothing')).status, 404);

  const signatures: string[] = [];
  for (let i = 0; i < 5; i++) signatures.push(...signaturesOf(await request(sign.port, `${PAYLOAD} ${i}`)));
  t.equal(signatures.length, 5);
  await request(verify.port, signatures[0]!);
  await request(verify.port, signatures[1]!);
  await request(verify.port, 'zz-not-hex');
  await request(verify.port, '');

  for (const [daemon, port, kind] of [
    [sign, signOps, 'sign'],
    [verify, verifyOps, 'verify'],
  ] as const) {
    const metrics = (await get(port, '/metrics')).body;
    t.equal(await promtoolCheck(metrics), '', `promtool check metrics passes for ${kind}`);
    for (const [outcome, count] of outcomesLogged(daemon)) {
      t.equal(sample(metrics, 'signerd_requests_total', { kind, outcome }), count, `${kind}: ${count} × ${outcome}`);
      t.equal(sample(metrics, 'signerd_request_duration_seconds_count', { kind, outcome }), count, `${kind}: histogram count for ${outcome}`);
    }
    t.equal(sample(metrics, 'signerd_ready'), 1);
    t.equal(sample(metrics, 'signerd_readiness', { part: 'store' }), 1);
    t.ok(sample(metrics, 'signerd_build_info') === 1 && sample(metrics, 'signerd_process_cpu_seconds_total') !== null, 'build info and process metrics');
    t.ok((sample(metrics, 'signerd_store_operation_duration_seconds_count', { store: 'sqlite', op: 'getLive' }) ?? 0) > 0, 'store operations timed');
    const readyz = (await get(port, '/readyz')).body;
    for (const text of [metrics, readyz]) {
      t.notMatch(text, PAYLOAD, 'no payload');
      t.notMatch(text, fs.readFileSync(keys.privateKeyFile, 'utf8').split('\n')[1]!.slice(0, 40), 'no key material');
    }
  }
  const posted = await fetch(`http://127.0.0.1:${signOps}/metrics`, { method: 'POST', body: 'x' });
  t.equal(posted.status, 405, 'the metrics listener is read-only');
  t.equal(posted.headers.get('allow'), 'GET, HEAD', 'and its 405 says what it takes');
  t.equal(posted.headers.get('x-signerd-error-code'), 'METHOD_NOT_ALLOWED', 'and its code, as every error reply');
  const nothing = await fetch(`http://127.0.0.1:${signOps}/nothing`);
  t.equal(nothing.headers.get('x-signerd-error-code'), 'NOT_FOUND', 'a 404 carries its code');
  await nothing.arrayBuffer();
  await posted.arrayBuffer();
  const signMetrics = (await get(signOps, '/metrics')).body;
  t.equal(sample(signMetrics, 'signerd_requests_total', { kind: 'sign', outcome: 'ok' }), 5);
  t.match(signMetrics, /signerd_key_info\{key_id="[0-9a-f]+",algorithm="ecdsa-p384-sha384",backend="file",daemon="sign-ecdsa"\} 1/);

  // Healthy under load: every /readyz poll while 400 requests run is 200.
  const statuses: number[] = [];
  let loading = true;
  const poller = (async () => {
    while (loading) {
      statuses.push((await get(signOps, '/readyz')).status);
      await sleep(20);
    }
  })();
  await Promise.all(
    Array.from({ length: 20 }, (_, c) =>
      exchange(
        sign.port,
        Array.from({ length: 20 }, (_, i) => `load ${c} ${i}`),
      ),
    ),
  );
  loading = false;
  await poller;
  t.ok(statuses.length > 0 && statuses.every((s) => s === 200), `healthy under load (${statuses.length} polls, all 200)`);

  const undo = makeUnwritable(state);
  try {
    const tookMs = await waitUntil(readyIs(signOps, 503), FOLLOWS_MS, 'sign unready');
    t.pass(`sign 503 after ${tookMs} ms`);
    const body = JSON.parse((await get(signOps, '/readyz')).body) as { ready: boolean; notReady: Record<string, string> };
    t.equal(body.ready, false);
    t.match(body.notReady['store'], /^STORE_UNAVAILABLE: state directory .* cannot write and read a file/);
    t.equal(sample((await get(signOps, '/metrics')).body, 'signerd_readiness', { part: 'store' }), 0);
    await waitUntil(readyIs(verifyOps, 503), FOLLOWS_MS, 'verify unready');
    t.equal((await get(signOps, '/healthz')).status, 200, 'still serving its listeners');
  } finally {
    undo();
  }
  t.pass(`sign 200 again after ${await waitUntil(readyIs(signOps, 200), FOLLOWS_MS, 'sign ready again')} ms`);
  await waitUntil(readyIs(verifyOps, 200), FOLLOWS_MS, 'verify ready again');
  t.ok(
    sign.logs.some((l) => l['msg'] === 'not ready' && JSON.stringify(l['notReady']).includes('STORE_UNAVAILABLE')),
    'the log says why',
  );

  // Forty idle connections, more than the listener's sixteen places: a prober takes the place of the
  // oldest idle one at once (they once held every place until the 5 s request deadline).
  const idle = await Promise.all(
    Array.from(
      { length: 40 },
      () =>
        new Promise<net.Socket>((resolve, reject) => {
          const socket = net.connect(signOps, '127.0.0.1', () => resolve(socket));
          socket.on('error', reject);
        }),
    ),
  );
  t.teardown(() => idle.forEach((socket) => socket.destroy()));
  // A prober's own new connection each time (fetch would reuse a kept-alive one, already in).
  const probe = (): Promise<boolean> =>
    new Promise((resolve) => {
      const req = http.get({ host: '127.0.0.1', port: signOps, path: '/readyz', agent: false, timeout: 1_000 }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('error', () => resolve(false));
      req.on('timeout', () => req.destroy());
    });
  await sleep(300);
  for (let i = 0; i < 3; i++) t.ok(await probe(), `probe ${i + 1}: answered beside idle connections past the cap`);
  idle.forEach((socket) => socket.destroy());
  // A request that never parses is answered with its code, as on every listener.
  const garbled = await new Promise<string>((resolve) => {
    let reply = '';
    const socket = net.connect(signOps, '127.0.0.1', () => socket.write('GG\r\n\r\n'));
    socket.on('data', (d: Buffer) => (reply += d.toString()));
    socket.on('close', () => resolve(reply));
    socket.on('error', () => resolve(reply));
  });
  t.match(garbled, /^HTTP\/1\.1 400 Bad Request\r\n/, 'a malformed request: 400');
  t.match(garbled, /\r\nx-signerd-error-code: BAD_REQUEST\r\n/i, 'with the code header');

  // Sixteen connections that pipeline scrapes and never read their replies: each is closed at its
  // fifth outstanding request, and no reply they hold keeps a place past the request deadline.
  const scrape = 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(200);
  const greedy = await Promise.all(
    Array.from(
      { length: 16 },
      () =>
        new Promise<net.Socket>((resolve, reject) => {
          const socket = net.connect(signOps, '127.0.0.1', () => {
            socket.write(scrape);
            socket.pause();
            resolve(socket);
          });
          socket.on('error', () => undefined);
          socket.once('error', reject);
        }),
    ),
  );
  t.teardown(() => greedy.forEach((socket) => socket.destroy()));
  // At once, not after a deadline: the pipelining is refused, not waited out (before: about 6 s).
  const servedMs = await waitUntil(probe, 8_000, 'the metrics listener serves beside pipelining non-readers');
  t.ok(servedMs < 2_000, `the prober is answered ${servedMs} ms after 16 connections pipelined 200 scrapes each`);
  const rssMb = Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${sign.proc.pid!}/status`, 'utf8'))![1]) / 1024;
  t.ok(rssMb < 200, `the daemon's RSS stays bounded (${rssMb.toFixed(0)} MB)`);
});

/** sign-ecdsa on a store given by `storeArgs`, with metrics; resolves with its operations port once /readyz is 200. */
async function startReadySign(t: Test, name: string, storeArgs: string[], readyMsMax: number): Promise<number> {
  const keys = makeKeys(dir, 'ecdsa', name);
  const sign = await startDaemon(['sign-ecdsa', '--key', keys.privateKeyFile, ...storeArgs, '--port', '0', '--metrics-port', '0']);
  t.teardown(() => sign.stop());
  const ops = metricsPortOf(sign);
  await waitUntil(readyIs(ops, 200), readyMsMax, 'ready');
  return ops;
}

t.test('sign on Redis: killed → 503 within 2 s, back → 200 within 2 s', needTools('redis-server'), async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const ops = await startReadySign(t, 'redis-ops', ['--store', 'redis', '--redis-url', redis.url], 2_000);
  await readinessFollowsOutage(t, ops, 'store', redis);
  const metrics = (await get(ops, '/metrics')).body;
  t.equal(await promtoolCheck(metrics), '');
  t.ok((sample(metrics, 'signerd_store_errors_total', { store: 'redis', op: 'put' }) ?? 0) > 0, 'store errors counted');
});

t.test('sign on PostgreSQL: stopped → 503 within 2 s, back → 200 within 2 s', needPostgres(), async (t) => {
  const server = await startPostgres();
  t.teardown(() => server.stop());
  const ops = await startReadySign(t, 'pg-ops', ['--store', 'postgres', '--postgres-url', server.url(), '--postgres-sslmode', 'disable'], 5_000);
  await readinessFollowsOutage(t, ops, 'store', server.primary);
});
