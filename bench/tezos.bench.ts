// Bench for the tezos daemon: attestation and block sign latency (p50/p99) through the line
// protocol with a durable watermark, per store (SQLite FULL sync, Redis), beside the in-process
// cost of the same tz1 signature (blake2b + Ed25519 + the verify every signature gets).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadTezosKey } from '../daemons/tezos/keys/tezos-key.js';
import { startDaemon } from '../test/helpers/daemon.js';
import { startRedis, type TestRedis } from '../test/helpers/redis-server.js';
import { sharedStores } from './shared-stores.js';
import { whichTool } from '../test/helpers/tools.js';
import { loadLines, loadOneShot, ONE_SHOT_CLIENTS, primitiveRate, type BenchRow } from './harness.js';

const DURATION_MS = Number(process.env['BENCH_MS'] ?? 4_000);
/** One connection: the latency a baker sees; eight: the same under contention. */
const CONNECTION_COUNTS = [1, 8];
const WARM_UP_MS = 1_000;
export const TZ1 = { pkh: 'tz1b9kV41KV9N3sp69ycLdSoZ2Ak8jXwtNPv', sk: 'edsk4TjJWEszkHKono7XMnepVqwi37FrpbVt1KCsifJeAGimxheShG' };

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}

/** A tezos daemon on the line protocol alone, kept-open, on a free port, its store made on this first start. */
export function tezosLineArgs(keysFile: string, ...extra: string[]): string[] {
  return ['tezos', '--keys', keysFile, '--no-http', '--port', '0', '--keep-open', '--init-watermarks', ...extra];
}

/** Each connection signs for its own chain id, so connections never compete for a slot. */
export function attestation(conn: number, level: number): Buffer {
  return Buffer.concat([Buffer.from([0x13]), int32(conn + 1), Buffer.alloc(32, 7), Buffer.from([21, 0, 0]), int32(level), int32(0), Buffer.alloc(32, 9)]);
}

function block(conn: number, level: number): Buffer {
  const fitness = Buffer.concat([int32(1), Buffer.from([2]), int32(4), int32(level), int32(0), int32(4), int32(-1), int32(4), int32(0)]);
  return Buffer.concat([
    Buffer.from([0x11]),
    int32(conn + 1),
    int32(level),
    Buffer.from([1]),
    Buffer.alloc(32, 1),
    Buffer.alloc(8, 0),
    Buffer.from([4]),
    Buffer.alloc(32, 2),
    int32(fitness.length),
    fitness,
    Buffer.alloc(32, 3),
    Buffer.alloc(32, 4),
    int32(0),
    Buffer.alloc(8, 5),
    Buffer.from([0, 0]),
  ]);
}

/** Payloads from `make`, each connection's level one higher than its last: every request is a new, higher slot. */
export function levelled(make: (conn: number, level: number) => Buffer): (conn: number) => Buffer {
  const levels = new Map<number, number>();
  return (conn) => {
    const level = (levels.get(conn) ?? 0) + 1;
    levels.set(conn, level);
    return make(conn, level);
  };
}

function measure(port: number, connections: number, next: (conn: number) => Buffer, durationMs = DURATION_MS): ReturnType<typeof loadLines> {
  return loadLines({
    port,
    connections,
    durationMs,
    line: (conn) => `sign ${TZ1.pkh} ${next(conn).toString('hex')}`,
    check: (reply) => reply.startsWith('edsig'),
  });
}

export async function bench(): Promise<BenchRow[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signerd-bench-tezos-'));
  const keysFile = path.join(dir, 'keys.json');
  fs.writeFileSync(keysFile, JSON.stringify({ keys: { [TZ1.pkh]: { secret_key: TZ1.sk } }, policy: { baking: 1 } }), { mode: 0o600 });
  const key = loadTezosKey(TZ1.sk);
  const sample = attestation(0, 1);
  const raw = primitiveRate(2_000, () => void key.sign(sample));
  const rows: BenchRow[] = [];
  let redis: TestRedis | undefined;
  const stores: Array<[string, () => Promise<string[]>]> = [['sqlite', async () => ['--store', 'sqlite', '--state-dir', path.join(dir, 'state')]]];
  if (whichTool('redis-server')) {
    stores.push([
      'redis AOF always, local floor',
      async () => {
        // A durable watermark needs Redis to fsync every write, as SQLite FULL does; the host's
        // local floor (the default on Redis) adds one SQLite fsync per reserve.
        redis = await startRedis(['--appendonly', 'yes', '--appendfsync', 'always']);
        return ['--store', 'redis', '--redis-url', redis.url, '--state-dir', path.join(dir, 'floor')];
      },
    ]);
  }
  const shared = await sharedStores();
  for (const s of shared.stores) stores.push([s.name, async () => s.args]);
  try {
    for (const [store, args] of stores) {
      const daemon = await startDaemon(tezosLineArgs(keysFile, ...(await args())), {
        dropLogsAfterStart: true,
      });
      // A discarded second of load first: stores connect asynchronously, and the first requests
      // pay for connections, JIT and each slot's first read; the rows time the steady state.
      // Chain ids above the measured connections': the warm-up never touches a measured slot.
      await measure(
        daemon.port,
        1,
        levelled((conn, level) => attestation(conn + 100, level)),
        WARM_UP_MS,
      );
      for (const [kind, make] of [
        ['attestation', attestation],
        ['block', block],
      ] as const) {
        // Levels carry on across the connection counts: every request is a new, higher slot.
        const next = levelled(make);
        for (const connections of CONNECTION_COUNTS) {
          const result = await measure(daemon.port, connections, next);
          rows.push({
            daemon: `tezos (${store})`,
            operation: `sign ${kind}, ${connections} conn`,
            ...result,
            primitive: 'tz1 sign+verify in-process (1 thread)',
            primitivePerSecond: raw,
          });
        }
      }
      await daemon.stop();
    }
    rows.push(...(await oneShotRows(keysFile, path.join(dir, 'state-one-shot'), raw)));
  } finally {
    await redis?.stop();
    await shared.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

/** One signature per connection on the line protocol, the daemon in its default (one-shot) mode. */
async function oneShotRows(keysFile: string, stateDir: string, raw: number): Promise<BenchRow[]> {
  const daemon = await startDaemon(
    ['tezos', '--keys', keysFile, '--no-http', '--port', '0', '--init-watermarks', '--store', 'sqlite', '--state-dir', stateDir],
    {
      dropLogsAfterStart: true,
    },
  );
  const rows: BenchRow[] = [];
  let level = 0;
  try {
    for (const halfClose of [false, true]) {
      const result = await loadOneShot({
        port: daemon.port,
        clients: ONE_SHOT_CLIENTS,
        durationMs: DURATION_MS / 2,
        // Every request a new, higher slot on its client's own chain.
        line: (client) => `sign ${TZ1.pkh} ${attestation(client, ++level).toString('hex')}`,
        check: (reply) => reply.startsWith('edsig'),
        halfClose,
      });
      const how = halfClose ? 'nc -N (half-close)' : 'echo | nc (no half-close)';
      rows.push({
        daemon: 'tezos (sqlite)',
        operation: `sign attestation, one conn per request, ${how}, ${ONE_SHOT_CLIENTS} client`,
        ...result,
        primitive: 'tz1 sign+verify in-process (1 thread)',
        primitivePerSecond: raw,
      });
    }
  } finally {
    await daemon.stop();
  }
  return rows;
}
