// The operations listener of hmac, tezos and firmware: promtool accepts each /metrics, request
// counters equal the requests per outcome, /readyz is 200 with the daemon's parts, hmac and firmware
// show their keys in signerd_key_info, tezos counts a policy refusal, and no secret (HMAC secret, Tezos secret key) shows in /metrics or /readyz; tezos
// on Redis follows an outage in /readyz within 2 s each way.
import t, { type Test } from 'tap';
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startDaemon, type RunningDaemon } from '../../helpers/daemon.js';
import { exchange, request } from '../../helpers/line-client.js';
import { get, metricsPortOf, promtoolCheck, readinessFollowsOutage, sample, waitUntil } from '../../helpers/operations.js';
import { needTools } from '../../helpers/tools.js';
import { waitFor } from '../../helpers/polling.js';
import { startRedis } from '../../helpers/redis-server.js';
import { singleDir } from '../../unit/hmac/secret-fixtures.js';
import { copyKeyRoot, MACHINE } from '../firmware/line-fixtures.js';
import { openKeyRoot } from '../../../daemons/firmware/keys/key-root.js';
import { TZ1, httpSign, seedKeys, writeKeys } from '../tezos/fixtures.js';

const dir = t.testdir();

/** Starts, waits for /readyz 200, runs `drive`, then checks /metrics against the log and for secrets. */
async function check(t: Test, name: string, daemon: RunningDaemon, drive: () => Promise<void>, secrets: string[]): Promise<string> {
  t.teardown(() => daemon.stop());
  const ops = metricsPortOf(daemon);
  await waitUntil(async () => (await get(ops, '/readyz')).status === 200, 3_000, `${name} ready`);
  await drive();
  const metrics = (await get(ops, '/metrics')).body;
  t.equal(await promtoolCheck(metrics), '', `${name}: promtool check metrics passes`);
  const logged = new Map<string, number>();
  for (const l of daemon.logs) if (l['msg'] === 'request') logged.set(String(l['outcome']), (logged.get(String(l['outcome'])) ?? 0) + 1);
  t.ok(logged.size > 0, `${name}: requests were made`);
  for (const [outcome, count] of logged) {
    const counted = metrics
      .split('\n')
      .filter((line) => line.startsWith('signerd_requests_total{') && line.includes(`outcome="${outcome}"`))
      .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
    t.equal(counted, count, `${name}: ${count} × ${outcome}`);
  }
  const readyz = (await get(ops, '/readyz')).body;
  for (const secret of secrets) t.notOk(metrics.includes(secret) || readyz.includes(secret), `${name}: no secret in /metrics or /readyz`);
  return metrics;
}

t.test('hmac, tezos and firmware', needTools('promtool'), async (t) => {
  const secretDir = singleDir(path.join(dir, 'hmac'));
  const hmac = await startDaemon(['hmac', '--secret-dir', secretDir, '--port', '0', '--verify-port', '0', '--metrics-port', '0'], { listeners: 2 });
  const hmacMetrics = await check(
    t,
    'hmac',
    hmac,
    async () => {
      await exchange(hmac.ports[0]!, ['0 hello', '0 world']);
      await request(hmac.ports[1]!, 'not a verify line');
    },
    [fs.readFileSync(path.join(secretDir, 'secret')).toString('hex').slice(0, 16)],
  );
  t.match(JSON.parse((await get(metricsPortOf(hmac), '/readyz')).body), { ready: true, parts: { secrets: true } });
  t.ok((sample(hmacMetrics, 'signerd_hmac_tags_total') ?? 0) >= 1, 'tags counted');
  t.equal(sample(hmacMetrics, 'signerd_key_info', { key_id: 'single', algorithm: 'hmac-sha256', backend: 'file' }), 1, 'hmac: the mode and backend');
  t.equal(keyInfoLines(hmacMetrics).length, 1, 'hmac: one key_info series');

  const keys = writeKeys(path.join(dir), seedKeys([TZ1]));
  const tezos = await startDaemon(
    ['tezos', '--keys', keys, '--state-dir', path.join(dir, 'tezos-state'), '--init-watermarks', '--port', '0', '--http-port', '0', '--metrics-port', '0'],
    { listeners: 2 },
  );
  const tezosMetrics = await check(
    t,
    'tezos',
    tezos,
    async () => {
      // A transaction (0x03) under a baking-only policy: refused by the policy.
      const refused = await httpSign(tezos.ports[1]!, TZ1.pkh, Buffer.from('03' + '00'.repeat(40), 'hex'));
      t.equal(refused.code, 'NOT_ALLOWED');
    },
    [TZ1.sk],
  );
  t.equal(sample(tezosMetrics, 'signerd_tezos_refusals_total', { kind: 'policy' }), 1);
  t.notMatch(tezosMetrics, /signerd_hmac_tags_total|signerd_firmware_upload/, "no other daemon's counters");
  t.match(JSON.parse((await get(metricsPortOf(tezos), '/readyz')).body), { ready: true, parts: { [`key ${TZ1.pkh}`]: true, watermarks: true } });

  const root = copyKeyRoot(path.join(dir, 'fw'));
  const firmware = await startDaemon(['firmware', '--key-root', root, '--port', '0', '--no-http', '--metrics-port', '0']);
  const firmwareMetrics = await check(
    t,
    'firmware',
    firmware,
    async () => {
      await request(firmware.port, 'KEYS');
      await request(firmware.port, 'NOPE');
    },
    [],
  );
  t.match(JSON.parse((await get(metricsPortOf(firmware), '/readyz')).body), { ready: true, parts: { 'key root': true } });
  const opened = await openKeyRoot(root, { callMsMax: 5_000 });
  const expected = new Set(opened.keys().map((k) => `${k.signer.keyId} ${k.signer.description} file`));
  await opened.close();
  const shown = keyInfoLines(firmwareMetrics).map((l) => `${l.key_id} ${l.algorithm} ${l.backend}`);
  t.same(shown.sort(), [...expected].sort(), `firmware: one key_info series per distinct key of the root (${expected.size})`);
  const kmod = /key-id=([0-9a-f]+)/.exec(await request(firmware.port, `KEYINFO ${MACHINE} kmodsign`))![1]!;
  t.equal(sample(firmwareMetrics, 'signerd_key_info', { key_id: kmod, algorithm: 'rsa-2048', backend: 'file' }), 1, 'the key id KEYINFO shows');
});

/** The labels of each signerd_key_info sample. */
function keyInfoLines(metrics: string): Array<Record<string, string>> {
  return metrics
    .split('\n')
    .filter((line) => line.startsWith('signerd_key_info{'))
    .map((line) => Object.fromEntries([...line.matchAll(/([a-z_]+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!])));
}

t.test('tezos on Redis: killed → 503 within 2 s, back → 200 within 2 s', needTools('redis-server'), async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  fs.mkdirSync(path.join(dir, 'tezos-redis'), { recursive: true });
  const keys = writeKeys(path.join(dir, 'tezos-redis'), seedKeys([TZ1]));
  const tezos = await startDaemon(
    [
      'tezos',
      '--keys',
      keys,
      '--store',
      'redis',
      '--redis-url',
      redis.url,
      '--state-dir',
      path.join(dir, 'tezos-redis-state'),
      '--port',
      '0',
      '--no-http',
      '--metrics-port',
      '0',
    ],
    { listeners: 1 },
  );
  t.teardown(() => tezos.stop());
  const ops = metricsPortOf(tezos);
  await waitUntil(async () => (await get(ops, '/readyz')).status === 200, 3_000, 'ready');
  // The client sees its connection close and the watermarks are probed at once, not at the next interval.
  await readinessFollowsOutage(t, ops, 'watermarks', redis);
});

t.test('tezos is not ready while its store takes reads but no writes', async (t) => {
  const base = path.join(dir, 'tezos-writes');
  fs.mkdirSync(base, { recursive: true });
  const keys = writeKeys(base, seedKeys([TZ1]));
  const state = path.join(base, 'state');
  const common = ['--keys', keys, '--state-dir', state, '--init-watermarks', '--port', '0', '--no-http', '--metrics-port', '0'];

  await t.test('SQLite: another connection holds the write lock past --store-timeout-ms', async (t) => {
    const tezos = await startDaemon(['tezos', ...common, '--store-timeout-ms', '300'], { listeners: 1 });
    t.teardown(() => tezos.stop());
    const ops = metricsPortOf(tezos);
    await waitUntil(async () => (await get(ops, '/readyz')).status === 200, 3_000, 'ready');
    const holder = new Database(path.join(state, 'tezos-watermarks.sqlite'));
    t.teardown(() => holder.close());
    await readinessFollowsOutage(t, ops, 'watermarks', {
      stop: async () => void holder.exec('BEGIN IMMEDIATE'),
      start: async () => void holder.exec('COMMIT'),
    });
  });

  await t.test('SQLite: the store file takes no writes (made read-only under the daemon)', needTools('chattr'), async (t) => {
    const tezos = await startDaemon(['tezos', ...common, '--store-timeout-ms', '300'], { listeners: 1 });
    t.teardown(() => tezos.stop());
    const ops = metricsPortOf(tezos);
    await waitUntil(async () => (await get(ops, '/readyz')).status === 200, 3_000, 'ready');
    // Writes go to the WAL file: immutable even for root (chattr), or read-only by mode for anyone else.
    const wal = path.join(state, 'tezos-watermarks.sqlite-wal');
    const asRoot = process.getuid?.() === 0;
    const set = (readOnly: boolean) => (asRoot ? execFileSync('chattr', [readOnly ? '+i' : '-i', wal]) : fs.chmodSync(wal, readOnly ? 0o400 : 0o600));
    t.teardown(() => set(false));
    await readinessFollowsOutage(t, ops, 'watermarks', { stop: async () => void set(true), start: async () => void set(false) });
  });

  await t.test('Redis: --redis-wait-replicas 1 and no replica acknowledges', needTools('redis-server'), async (t) => {
    const redis = await startRedis();
    t.teardown(() => redis.stop());
    const args = ['tezos', ...common, '--store', 'redis', '--redis-url', redis.url, '--redis-wait-replicas', '1', '--store-timeout-ms', '300'];
    const tezos = await startDaemon(args, { listeners: 1 });
    t.teardown(() => tezos.stop());
    const ops = metricsPortOf(tezos);
    const body = await waitFor(
      async () => {
        const r = await get(ops, '/readyz');
        const body = JSON.parse(r.body) as { notReady?: Record<string, string> };
        return r.status === 503 && /^STORE_UNAVAILABLE/.test(body.notReady?.['watermarks'] ?? '') ? body : null;
      },
      5_000,
      'not ready',
    );
    t.match(body.notReady!['watermarks'], /^STORE_UNAVAILABLE: redis watermark probe failed/, 'the probe write waits for the replicas a reserve waits for');
  });
});
