// Two daemon processes on one watermark store, many concurrent requests for the same slot:
// exactly one signature per slot, identical bytes get that same signature, the rest get 409.
// Run on the embedded SQLite store and on a real redis-server.
import t, { type Test } from 'tap';
import Database from 'better-sqlite3';
import path from 'node:path';
import { request } from '../../helpers/line-client.js';
import { startRedis } from '../../helpers/redis-server.js';
import { needTools } from '../../helpers/tools.js';
import { http, httpSign, httpSignWhenStoreUp, seedKeys, startTezos, tempDir, TZ1, TZ2, writeKeys, type TezosDaemon } from './fixtures.js';
import { block, consensus } from './payloads.js';
import { sleep } from '../../helpers/polling.js';
import { WATERMARK_SQLITE_FILE } from '../../../daemons/tezos/watermark/sqlite-watermark-store.js';

const LEVELS = 8;
const VARIANTS = 5;
const COPIES = 2;

/** Sends one request alternately over HTTP and the line protocol of either daemon. */
async function send(daemons: TezosDaemon[], i: number, pkh: string, payload: Buffer): Promise<{ status: number; signature: string | null }> {
  const d = daemons[i % daemons.length]!;
  if (i % 3 === 2) {
    const reply = await request(d.linePort, `sign ${pkh} ${payload.toString('hex')}`);
    if (reply.startsWith('ERR ')) return { status: reply.startsWith('ERR WATERMARK_REJECTED') ? 409 : 500, signature: null };
    return { status: 200, signature: reply };
  }
  const r = await httpSign(d.httpPort, pkh, payload);
  return { status: r.status, signature: r.signature };
}

async function race(t: Test, daemons: TezosDaemon[]): Promise<void> {
  for (const [pkh, kinds] of [
    [TZ1.pkh, ['attestation', 'block']],
    [TZ2.pkh, ['preattestation']],
  ] as const) {
    for (const kind of kinds) {
      for (let level = 1; level <= LEVELS; level++) {
        const jobs: Array<Promise<{ variant: number; status: number; signature: string | null }>> = [];
        let i = 0;
        for (let variant = 0; variant < VARIANTS; variant++) {
          const o = { level, round: level % 2, variant: `${variant}` };
          const payload = kind === 'block' ? block(o) : consensus(kind, o);
          for (let copy = 0; copy < COPIES; copy++) {
            const n = i++;
            jobs.push(send(daemons, n, pkh, payload).then((r) => ({ variant, ...r })));
          }
        }
        const results = await Promise.all(jobs);
        const signed = results.filter((r) => r.status === 200);
        const distinct = new Set(signed.map((r) => r.signature));
        const winners = new Set(signed.map((r) => r.variant));
        const others = results.filter((r) => r.status !== 200).map((r) => r.status);
        if (distinct.size !== 1 || winners.size !== 1 || others.some((s) => s !== 409)) {
          t.fail(
            `${pkh} ${kind} level ${level}: ${distinct.size} signatures, ${winners.size} winning payloads, statuses ${JSON.stringify(results.map((r) => r.status))}`,
          );
          return;
        }
      }
      t.pass(`${pkh.slice(0, 3)} ${kind}: ${LEVELS} levels, ${VARIANTS * COPIES} concurrent requests each over two processes: exactly one signature per slot`);
    }
  }
}

const keys = [TZ1, TZ2];

t.test('two processes on one SQLite store', async (t) => {
  const dir = tempDir(t);
  const keysFile = writeKeys(dir, seedKeys(keys));
  // The store deadline only has to outlast a loaded disk's fsync while the other process commits: a
  // refusal for a slow disk (503) is not what is raced here.
  const args = ['--store', 'sqlite', '--state-dir', `${dir}/state`, '--store-timeout-ms', '5000'];
  const daemons = await Promise.all([startTezos(t, keysFile, args), startTezos(t, keysFile, args)]);
  await race(t, daemons);
});

t.test('a lock another connection holds stalls only the requests that need it', async (t) => {
  const dir = tempDir(t);
  const keysFile = writeKeys(dir, seedKeys(keys));
  const state = path.join(dir, 'state');
  const d = await startTezos(t, keysFile, ['--store', 'sqlite', '--state-dir', state, '--store-timeout-ms', '5000']);
  // Another process on the same state directory, or an operator's sqlite3 shell, in a write transaction.
  const holder = new Database(path.join(state, WATERMARK_SQLITE_FILE));
  t.teardown(() => holder.close());
  holder.exec('BEGIN IMMEDIATE');
  let answered = false;
  const signing = request(d.linePort, `sign ${TZ1.pkh} ${consensus('attestation', { level: 7, round: 0 }).toString('hex')}`).finally(() => (answered = true));
  await sleep(300); // the sign has reached the daemon and waits for the lock
  const key = await http(d.httpPort, 'GET', `/keys/${TZ1.pkh}`);
  t.equal(key.status, 200, 'another client is served while the sign waits for the lock');
  t.notOk(answered, 'the sign is still waiting');
  holder.exec('COMMIT');
  t.match(await signing, /^edsig/, 'and signs once the lock is free, within its store deadline');
});

t.test('two processes on one redis-server', needTools('redis-server'), async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const dir = tempDir(t);
  const keysFile = writeKeys(dir, seedKeys(keys));
  // Two hosts: each has its own state directory (its own local floor); only Redis is shared.
  const args = (host: string): string[] => [
    '--store',
    'redis',
    '--redis-url',
    redis.url,
    '--redis-prefix',
    'race:',
    '--state-dir',
    `${dir}/${host}`,
    '--store-timeout-ms',
    '5000',
  ];
  const daemons = await Promise.all([startTezos(t, keysFile, args('a')), startTezos(t, keysFile, args('b'))]);
  // ioredis connects asynchronously; wait until a sign goes through before racing.
  await waitForStore(daemons);
  await race(t, daemons);
});

async function waitForStore(daemons: TezosDaemon[]): Promise<void> {
  for (const d of daemons) await httpSignWhenStoreUp(d.httpPort, TZ1.pkh, consensus('attestation', { level: 0, round: 0, variant: 'warm-up' }));
}
