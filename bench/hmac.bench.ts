// Bench for signerd hmac: 64-byte messages over pipelined keep-open connections (many requests
// in flight per connection), beside raw HMAC-SHA256 and MurmurHash3+HMAC measured in this run;
// mode32 with the full 65,536-file set under the systemd template's descriptor limit.
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { murmur3x86_32 } from '../daemons/hmac/murmur3.js';
import { SIGNERD } from '../test/helpers/daemon.js';
import { freePort } from '../test/helpers/ports.js';
import { loadOneShot, metricsArgs, ONE_SHOT_CLIENTS, primitiveRate, type BenchRow } from './harness.js';
import { sleep } from '../test/helpers/polling.js';

const DURATION_MS = Number(process.env['BENCH_MS'] ?? 4_000);
const CONNECTIONS = Number(process.env['BENCH_HMAC_CONNECTIONS'] ?? 8);
/** Requests each connection keeps in flight; serve-tcp answers them in order. */
const DEPTH = Number(process.env['BENCH_HMAC_DEPTH'] ?? 32);
const MESSAGE_BYTES = 64;
/** systemd/signerd@.service's LimitNOFILE: the mode32 row runs under it. */
const TEMPLATE_NOFILE = 4096;

export interface PipelineResult {
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  count: number;
}

/** Keeps `depth` lines in flight on each connection; refills in one write per batch of replies. */
export async function loadPipelined(
  port: number,
  connections: number,
  depth: number,
  durationMs: number,
  line: (seq: number) => Buffer,
  check: (reply: string) => boolean,
): Promise<PipelineResult> {
  const latencies: number[] = [];
  const deadline = Date.now() + durationMs;
  const started = process.hrtime.bigint();
  let seq = 0;
  await Promise.all(
    Array.from(
      { length: connections },
      () =>
        new Promise<void>((resolve, reject) => {
          const socket = net.connect(port, '127.0.0.1');
          const sent: bigint[] = [];
          let buffered = '';
          let stopping = false;
          const fill = (n: number): void => {
            const now = process.hrtime.bigint();
            const lines: Buffer[] = [];
            for (let i = 0; i < n; i++) {
              lines.push(line(seq++));
              sent.push(now);
            }
            socket.write(Buffer.concat(lines));
          };
          socket.setNoDelay(true);
          socket.on('connect', () => fill(depth));
          socket.on('data', (d) => {
            buffered += d.toString('latin1');
            const now = process.hrtime.bigint();
            let nl: number;
            let answered = 0;
            while ((nl = buffered.indexOf('\n')) !== -1) {
              const reply = buffered.slice(0, nl);
              buffered = buffered.slice(nl + 1);
              latencies.push(Number(now - sent.shift()!) / 1e6);
              if (!check(reply)) {
                socket.destroy();
                reject(new Error(`bad reply: ${reply.slice(0, 120)}`));
                return;
              }
              answered++;
            }
            if (stopping) {
              if (sent.length === 0) socket.end();
            } else if (Date.now() >= deadline) stopping = true;
            else if (answered > 0) fill(answered);
            if (stopping && sent.length === 0) socket.end();
          });
          socket.on('close', () => resolve());
          socket.on('error', reject);
        }),
    ),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  latencies.sort((a, b) => a - b);
  const pick = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  return { perSecond: latencies.length / seconds, p50Ms: pick(0.5), p99Ms: pick(0.99), count: latencies.length };
}

/**
 * Spawns the daemon with its log on /dev/null, so the load generator does not parse 50k lines/s;
 * with `nofile`, under that descriptor limit (soft and hard, as LimitNOFILE= sets them).
 */
async function spawnHmac(args: string[], nofile?: number, keepOpen = true): Promise<{ mac: number; verify: number; proc: ChildProcess }> {
  const [mac, verify] = [await freePort(), await freePort()];
  const devNull = fs.openSync('/dev/null', 'w');
  const argv = [SIGNERD, 'hmac', '--port', String(mac), '--verify-port', String(verify), ...(keepOpen ? ['--keep-open'] : []), ...metricsArgs(), ...args];
  const [command, commandArgs] =
    nofile === undefined ? [process.execPath, argv] : ['sh', ['-c', `ulimit -n ${nofile} && exec "$0" "$@"`, process.execPath, ...argv]];
  const proc = spawn(command, commandArgs, { stdio: ['ignore', devNull, 'inherit'] });
  fs.closeSync(devNull);
  // mode32 checks all 65,536 files before it listens (about a second).
  for (let i = 0; i < 400; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(verify, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (up) return { mac, verify, proc };
    await sleep(50);
  }
  proc.kill('SIGKILL');
  throw new Error('signerd hmac did not start');
}

function stop(proc: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    proc.once('exit', () => resolve());
    proc.kill('SIGTERM');
  });
}

export async function bench(): Promise<BenchRow[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signerd-bench-hmac-'));
  fs.writeFileSync(path.join(dir, '0000'), crypto.randomBytes(65_536 * 32), { mode: 0o600 });
  fs.writeFileSync(path.join(dir, 'master-v1'), crypto.randomBytes(32), { mode: 0o600 });
  const key = crypto.randomBytes(32);
  const message = crypto.randomBytes(MESSAGE_BYTES / 2).toString('hex');
  const rawHmac = primitiveRate(2_000, () => crypto.createHmac('sha256', key).update(message).digest());
  const table = crypto.randomBytes(65_536 * 32);
  const rawSelect = primitiveRate(2_000, () => {
    const data = Buffer.from(message);
    const offset = (murmur3x86_32(data) & 0xffff) * 32;
    crypto
      .createHmac('sha256', table.subarray(offset, offset + 32))
      .update(data)
      .digest();
  });
  // Messages are 64 bytes: a 10-digit counter and a fixed 54-byte tail, so each hits another index.
  const tail = 'x'.repeat(MESSAGE_BYTES - 10);
  const line = (seq: number): Buffer => Buffer.from(`${String(seq).padStart(10, '0')}${tail}\n`);
  const isTag = (reply: string): boolean => reply.length === 64;
  const rows: BenchRow[] = [];
  const label = `${CONNECTIONS} conn x ${DEPTH} pipelined`;
  for (const [mode, extra] of [
    ['mode16', []],
    ['derived', []],
    ['mode16', ['--log-level', 'warn']],
  ] as const) {
    const daemon = await spawnHmac(['--mode', mode, '--secret-dir', dir, ...extra]);
    const quiet = extra.length > 0 ? ', log warn' : '';
    const mac = await loadPipelined(daemon.mac, CONNECTIONS, DEPTH, DURATION_MS, line, isTag);
    rows.push({
      daemon: `hmac ${mode}${quiet}`,
      operation: `MAC 64 B, ${label}`,
      ...mac,
      primitive: 'HMAC-SHA256 64 B (node:crypto, 1 thread)',
      primitivePerSecond: rawHmac,
    });
    if (extra.length === 0 && mode === 'mode16') {
      const sample = Array.from({ length: 256 }, (_, i) => line(i).toString().trimEnd());
      const tags = await collect(daemon.mac, sample);
      const verify = await loadPipelined(
        daemon.verify,
        CONNECTIONS,
        DEPTH,
        DURATION_MS,
        (seq) => Buffer.from(`${tags[seq % 256]} ${sample[seq % 256]}\n`),
        (r) => r === 'Valid.',
      );
      rows.push({
        daemon: 'hmac mode16',
        operation: `verify 64 B, ${label}`,
        ...verify,
        primitive: 'MurmurHash3 + HMAC-SHA256 64 B (1 thread)',
        primitivePerSecond: rawSelect,
      });
    }
    await stop(daemon.proc);
  }
  const mode32 = await spawnHmac(['--mode', 'mode32', '--secret-dir', writeMode32Set(dir)], TEMPLATE_NOFILE);
  const mode32Mac = await loadPipelined(mode32.mac, CONNECTIONS, DEPTH, DURATION_MS, line, isTag);
  rows.push({
    daemon: `hmac mode32, 65,536 files, nofile ${TEMPLATE_NOFILE}`,
    operation: `MAC 64 B, ${label}`,
    ...mode32Mac,
    primitive: 'HMAC-SHA256 64 B (node:crypto, 1 thread)',
    primitivePerSecond: rawHmac,
  });
  await stop(mode32.proc);
  // The seed's own usage: one MAC per connection, the daemon in its default (one-shot) mode.
  const oneShot = await spawnHmac(['--mode', 'mode16', '--secret-dir', dir], undefined, false);
  for (const halfClose of [false, true]) {
    const result = await loadOneShot({
      port: oneShot.mac,
      clients: ONE_SHOT_CLIENTS,
      durationMs: DURATION_MS / 2,
      line: (_, seq) => line(seq).toString().trimEnd(),
      check: isTag,
      halfClose,
    });
    const how = halfClose ? 'nc -N (half-close)' : 'echo | nc (no half-close)';
    rows.push({
      daemon: 'hmac mode16',
      operation: `MAC 64 B, one conn per request, ${how}, ${ONE_SHOT_CLIENTS} client`,
      ...result,
      primitive: 'HMAC-SHA256 64 B (node:crypto, 1 thread)',
      primitivePerSecond: rawHmac,
    });
  }
  await stop(oneShot.proc);
  fs.rmSync(dir, { recursive: true, force: true });
  return rows;
}

/**
 * The full mode32 set in `<dir>/mode32`: 65,536 names, hard links to 7 random 2 MiB tables (seconds
 * to create, not minutes). The daemon opens, checks and reads each name as a file of its own; the
 * 14 MiB behind them stay in the page cache, so the row measures the daemon, not a disk.
 */
function writeMode32Set(dir: string): string {
  const tables = Array.from({ length: 7 }, (_, i) => {
    const file = path.join(dir, `mode32-table-${i}`);
    fs.writeFileSync(file, crypto.randomBytes(65_536 * 32), { mode: 0o600 });
    return file;
  });
  const secrets = path.join(dir, 'mode32');
  fs.mkdirSync(secrets, { mode: 0o700 });
  for (let file = 0; file < 65_536; file++) fs.linkSync(tables[file % tables.length]!, path.join(secrets, file.toString(16).padStart(4, '0')));
  return secrets;
}

/** Sends lines on one connection and returns the reply lines. */
function collect(port: number, lines: string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.end(lines.join('\n') + '\n'));
    let data = '';
    socket.on('data', (d) => (data += d.toString('latin1')));
    socket.on('close', () => resolve(data.trimEnd().split('\n')));
    socket.on('error', reject);
  });
}
