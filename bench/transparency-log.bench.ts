// Bench for the transparency log's appender alone (the daemons do not log yet): appends per second
// and the latency an append adds to a request (p50/p99: what a signature would wait for its entry
// to be durable), at 1, 16 and 256 appends in flight, beside raw fdatasync in the same directory.
// Group commit shows as appends per second far above fsyncs per second. Then `signerd log serve`:
// full tiles over keep-alive HTTP GETs, as a mirror fetches them, beside reading the same files.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateNoteKey } from '../lib/transparency/note-key.js';
import { loadCheckpointSignerFile } from '../lib/transparency/checkpoint-signer.js';
import { openTransparencyLog } from '../lib/transparency/transparency-log.js';
import { loadHttpGets, primitiveRate, type BenchRow } from './harness.js';
import { startDaemon } from '../test/helpers/daemon.js';
import { tilePath, TILE_WIDTH } from '../lib/transparency/tile-layout.js';

const DURATION_MS = Number(process.env['BENCH_MS'] ?? 4_000);
const IN_FLIGHT = [1, 16, 256];

/** fdatasync of a 512-byte append, the cost one commit cannot avoid. */
function fsyncRate(dir: string): number {
  const file = path.join(dir, 'fsync-probe');
  const fd = fs.openSync(file, 'w');
  const block = Buffer.alloc(512, 1);
  try {
    return primitiveRate(Math.min(2_000, DURATION_MS / 2), () => {
      fs.writeSync(fd, block);
      fs.fdatasyncSync(fd);
    });
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file);
  }
}

async function appendLoad(dir: string, keyFile: string, inFlight: number): Promise<{ perSecond: number; p50Ms: number; p99Ms: number }> {
  const log = await openTransparencyLog({ dir: path.join(dir, `log-${inFlight}`), signers: [loadCheckpointSignerFile(keyFile)] });
  const latencies: number[] = [];
  const messageSha256 = crypto.createHash('sha256').update('bench').digest();
  const deadline = Date.now() + DURATION_MS;
  const started = process.hrtime.bigint();
  let n = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (Date.now() < deadline) {
        const signature = crypto.createHash('sha384').update(String(n++)).digest();
        const t0 = process.hrtime.bigint();
        await log.append({ kind: 'sign', source: 'sign-ecdsa', keyId: 'a1b2c3d4e5f60718', algorithm: 'ecdsa-p384', messageSha256, signature });
        latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await log.close();
  latencies.sort((a, b) => a - b);
  const at = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))]!;
  return { perSecond: latencies.length / seconds, p50Ms: at(0.5), p99Ms: at(0.99) };
}

export async function bench(): Promise<BenchRow[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signerd-bench-log-'));
  try {
    const keyFile = path.join(dir, 'log.key');
    fs.writeFileSync(keyFile, `${generateNoteKey('bench.test/log').privateKeyText}\n`, { mode: 0o600 });
    const rows: BenchRow[] = [];
    for (const inFlight of IN_FLIGHT) {
      const load = await appendLoad(dir, keyFile, inFlight);
      rows.push({
        daemon: 'transparency-log',
        operation: `append, ${inFlight} in flight`,
        ...load,
        primitive: 'fdatasync 512 B',
        primitivePerSecond: fsyncRate(dir),
      });
    }
    rows.push(...(await serveRows(dir, keyFile)));
    return rows;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const SERVED_TILES = 16;
const SERVE_CLIENTS = [1, 8];

/** `signerd log serve` handing out full level-0 tiles (8 KiB) to keep-alive clients, beside reading those files here. */
async function serveRows(dir: string, keyFile: string): Promise<BenchRow[]> {
  const logDir = path.join(dir, 'served');
  const log = await openTransparencyLog({ dir: logDir, signers: [loadCheckpointSignerFile(keyFile)], checkpointIntervalMs: 60_000 });
  const event = (i: number) => ({ kind: 'revoke' as const, source: 'bench', signature: crypto.createHash('sha256').update(`served ${i}`).digest() });
  await Promise.all(Array.from({ length: SERVED_TILES * TILE_WIDTH }, (_, i) => log.append(event(i))));
  await log.publish();
  await log.close();
  const tiles = Array.from({ length: SERVED_TILES }, (_, index) => tilePath({ level: 0, index, width: TILE_WIDTH }));
  let next = 0;
  const readRate = primitiveRate(1_000, () => void fs.readFileSync(path.join(logDir, tiles[next++ % tiles.length]!)));
  const server = await startDaemon(['log', 'serve', '--transparency-log', logDir, '--port', '0'], { dropLogsAfterStart: true });
  try {
    const rows: BenchRow[] = [];
    for (const clients of SERVE_CLIENTS) {
      const load = await loadHttpGets({
        url: (c, s) => `http://127.0.0.1:${server.port}/${tiles[(c * 7 + s) % tiles.length]!}`,
        clients,
        durationMs: DURATION_MS / 2,
      });
      rows.push({
        daemon: 'log serve',
        operation: `GET a full tile (8 KiB), keep-alive, ${clients} client${clients > 1 ? 's' : ''}`,
        ...load,
        primitive: 'read the tile file (fs, 1 thread)',
        primitivePerSecond: readRate,
      });
    }
    return rows;
  } finally {
    await server.stop();
  }
}
