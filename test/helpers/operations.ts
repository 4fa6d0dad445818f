// Reading a daemon's operations listener in tests: its port (from the "metrics listening" log line),
// a GET of /metrics, /healthz or /readyz, a sample's value, promtool's verdict, polling, and /readyz
// through a store outage.
import { execFile } from 'node:child_process';
import type { Test } from 'tap';
import type { RunningDaemon } from './daemon.js';
import { waitFor } from './polling.js';

export function metricsPortOf(daemon: RunningDaemon): number {
  const line = daemon.logs.find((l) => l['msg'] === 'metrics listening');
  if (typeof line?.['port'] !== 'number') throw new Error('the daemon logged no "metrics listening" line');
  return line['port'];
}

export async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(3_000) });
  return { status: res.status, body: await res.text() };
}

/** The value of one sample: `name` with exactly these labels among its own (daemon is added by the daemon). */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | null {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const own = Object.fromEntries([...(m[3] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => own[k] === v)) return Number(m[4]);
  }
  return null;
}

/** promtool's complaints about an exposition (empty: none). */
export function promtoolCheck(text: string): Promise<string> {
  return new Promise((resolve) => {
    const child = execFile('promtool', ['check', 'metrics'], (_err, stdout, stderr) => resolve((stdout + stderr).trim()));
    child.stdin!.on('error', () => {}); // promtool's verdict is its output; an early exit closes the pipe (EPIPE)
    child.stdin!.end(text);
  });
}

/** Polls `check` every 50 ms (a rejection counts as false) until it is true; resolves with the milliseconds it took, or rejects after msMax. */
export async function waitUntil(check: () => Promise<boolean>, msMax: number, what: string): Promise<number> {
  const started = Date.now();
  await waitFor(() => check().catch(() => false), msMax, what, 50);
  return Date.now() - started;
}

/** What /readyz must follow: a store server stopped, then started again. */
export interface Outage {
  stop(): Promise<void>;
  start(): Promise<void>;
}

/**
 * The readiness bound (#13): with the daemon ready, `outage.stop()` turns /readyz 503 within
 * 2 s, naming `part` as unavailable, and `outage.start()` turns it 200 again within 2 s.
 */
export async function readinessFollowsOutage(t: Test, port: number, part: string, outage: Outage): Promise<void> {
  const readyIs = (status: number) => async () => (await get(port, '/readyz')).status === status;
  await outage.stop();
  t.pass(`503 after ${await waitUntil(readyIs(503), 2_000, 'unready during the outage')} ms`);
  const body = JSON.parse((await get(port, '/readyz')).body) as { notReady: Record<string, string> };
  t.match(body.notReady[part], /^STORE_UNAVAILABLE/);
  await outage.start();
  t.pass(`200 after ${await waitUntil(readyIs(200), 2_000, 'ready after the outage')} ms`);
}
