// A real redis-server for tests, on a free loopback port, configured as signerd requires (AOF with
// appendfsync always, so a write it acknowledged survives a kill), stopped and restarted on demand
// (outage tests). `extraArgs` override the defaults (e.g. `--appendonly no` for the refusal tests).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { freePort } from './ports.js';
import { waitFor } from './polling.js';

export interface TestRedis {
  readonly port: number;
  readonly url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Runs a command through redis-cli and returns its stdout. */
  cli(...args: string[]): Promise<string>;
}

/** The persistence signerd's start-up check accepts without --redis-wait-replicas or --redis-allow-volatile. */
export const DURABLE_ARGS = ['--appendonly', 'yes', '--appendfsync', 'always'];

export async function startRedis(extraArgs: string[] = []): Promise<TestRedis> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signerd-redis-'));
  // stop() is also a crash that start() recovers from, so the data stays until this process ends.
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  let proc: ChildProcess | undefined;

  async function start(): Promise<void> {
    proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...DURABLE_ARGS, '--dir', dir, ...extraArgs], {
      stdio: 'ignore',
    });
    await waitForPing(port, 5_000);
  }
  async function stop(): Promise<void> {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGKILL');
    });
  }
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    start,
    stop,
    cli: (...args) =>
      new Promise((resolve, reject) => {
        const child = spawn('redis-cli', ['-p', String(port), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.on('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`redis-cli exited ${code}`))));
      }),
  };
}

async function waitForPing(port: number, msMax: number): Promise<void> {
  const ping = (): Promise<boolean> =>
    new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => s.write('PING\r\n'));
      s.once('data', (d) => {
        s.destroy();
        resolve(d.toString().startsWith('+PONG'));
      });
      s.once('error', () => resolve(false));
    });
  await waitFor(ping, msMax, `redis-server on ${port} to answer PING`, 50);
}
