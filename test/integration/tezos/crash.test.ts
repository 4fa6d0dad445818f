// SIGKILL under load, then restart on the same store: every signature ever returned is
// collected, and no slot may ever have two different signatures (or two signed payloads).
import t, { type Test } from 'tap';
import { startRedis } from '../../helpers/redis-server.js';
import { needTools } from '../../helpers/tools.js';
import { httpSign, httpSignWhenStoreUp, seedKeys, startTezos, tempDir, TZ3, writeKeys, type TezosDaemon } from './fixtures.js';
import { consensus, MAINNET_ID } from './payloads.js';
import { request } from '../../helpers/line-client.js';
import { payloadDigest } from '../../../daemons/tezos/watermark/watermark-rule.js';
import { openSqliteWatermarkStore } from '../../../daemons/tezos/watermark/sqlite-watermark-store.js';

const CLIENTS = 6;
const LEVELS = 40;

interface Signed {
  slot: string;
  variant: string;
  signature: string;
}

/** Clients walk up the levels, each with its own payload variant per level (as competing bakers' requests would). */
async function load(d: TezosDaemon, from: number, to: number, seen: Signed[], stopAfter?: { count: number; kill: () => void }): Promise<void> {
  let done = 0;
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, c) => {
      for (let level = from; level <= to; level++) {
        for (const round of [0, 1]) {
          const variant = `${c % 3}`;
          try {
            const r = await httpSign(d.httpPort, TZ3.pkh, consensus('attestation', { level, round, variant }));
            if (r.signature) seen.push({ slot: `${level}/${round}`, variant, signature: r.signature });
          } catch {
            return; // the daemon died under us
          }
          if (stopAfter && ++done === stopAfter.count) stopAfter.kill();
        }
      }
    }),
  );
}

function check(t: Test, seen: Signed[]): void {
  const bySlot = new Map<string, Set<string>>();
  const payloadBySlot = new Map<string, Set<string>>();
  for (const s of seen) {
    bySlot.set(s.slot, (bySlot.get(s.slot) ?? new Set()).add(s.signature));
    payloadBySlot.set(s.slot, (payloadBySlot.get(s.slot) ?? new Set()).add(s.variant));
  }
  const doubled = [...bySlot].filter(([, sigs]) => sigs.size > 1).map(([slot]) => slot);
  const twoPayloads = [...payloadBySlot].filter(([, v]) => v.size > 1).map(([slot]) => slot);
  t.same(doubled, [], `no slot signed twice (${seen.length} signatures over ${bySlot.size} slots)`);
  t.same(twoPayloads, [], 'no slot has two different signed payloads');
  t.ok(bySlot.size > 10, 'the load made progress across the kills');
}

async function killAndRestart(t: Test, keysFile: string, args: string[]): Promise<void> {
  const seen: Signed[] = [];
  let d = await startTezos(t, keysFile, args);
  await waitForStore(d);
  for (const [from, to] of [
    [1, 15],
    [10, 28],
    [25, LEVELS],
  ] as const) {
    const current = d;
    // Kill mid-load, then replay overlapping levels on a fresh process: old payloads may only
    // come back with their stored signature (or 409), never with a new one.
    await load(current, from, to, seen, { count: 40, kill: () => current.daemon.proc.kill('SIGKILL') });
    await current.daemon.stop('SIGKILL');
    d = await startTezos(t, keysFile, args);
    await waitForStore(d);
  }
  await load(d, 1, LEVELS, seen);
  check(t, seen);
}

t.test('SIGKILL under load on the SQLite store', async (t) => {
  const dir = tempDir(t);
  const keysFile = writeKeys(dir, seedKeys([TZ3]));
  await killAndRestart(t, keysFile, ['--store', 'sqlite', '--state-dir', `${dir}/state`]);
});

t.test('SIGKILL under load on redis alone (--no-redis-local-floor)', needTools('redis-server'), async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const dir = tempDir(t);
  const keysFile = writeKeys(dir, seedKeys([TZ3]));
  await killAndRestart(t, keysFile, ['--store', 'redis', '--redis-url', redis.url, '--no-redis-local-floor']);
});

t.test('SIGKILL under load on redis with --redis-local-floor', needTools('redis-server'), async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const dir = tempDir(t);
  const keysFile = writeKeys(dir, seedKeys([TZ3]));
  await killAndRestart(t, keysFile, ['--store', 'redis', '--redis-url', redis.url, '--redis-local-floor', '--state-dir', `${dir}/state`]);
});

t.test('killed between reserve and record: an identical retry gets 409, never a new signature', async (t) => {
  const dir = tempDir(t);
  const payload = consensus('attestation', { level: 77, round: 2 });
  // The state a SIGKILL right after the durable reserve leaves behind: the mark, no signature.
  const store = openSqliteWatermarkStore({ stateDir: `${dir}/state`, busyTimeoutMs: 1_000, create: true });
  await store.reserve({ chainId: MAINNET_ID, pkh: TZ3.pkh, kind: 'attestation' }, { level: 77, round: 2, digest: payloadDigest(payload) });
  await store.close();
  const d = await startTezos(t, writeKeys(dir, seedKeys([TZ3])), ['--state-dir', `${dir}/state`, '--reply', 'json']);
  const reply = JSON.parse(await request(d.linePort, `sign ${TZ3.pkh} ${payload.toString('hex')}`)) as { error?: { code: string; message: string } };
  t.equal(reply.error?.code, 'WATERMARK_REJECTED', 'the identical request is refused (JSON reply form)');
  t.match(reply.error?.message, /no signature was recorded/);
  const next = JSON.parse(await request(d.linePort, `sign ${TZ3.pkh} ${consensus('attestation', { level: 77, round: 3 }).toString('hex')}`)) as {
    signature?: string;
  };
  t.match(next.signature, /^p2sig/, 'the next round is signed: {"signature": …}');
});

async function waitForStore(d: TezosDaemon): Promise<void> {
  await httpSignWhenStoreUp(d.httpPort, TZ3.pkh, (i) => consensus('preattestation', { level: 0, round: 0, variant: `warm${i}` }));
}
