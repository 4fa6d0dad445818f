// Measurement helpers for `npm run bench`: drive a daemon over loopback with many pipelined
// keep-open connections, or with one connection per request as `echo x | nc` does, time each
// request, and time the raw primitive in the same run.
import net from 'node:net';
import type tls from 'node:tls';

export interface BenchRow {
  daemon: string;
  operation: string;
  /** Requests (or signatures) per second through the daemon. */
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  primitive: string;
  /** The raw primitive's rate measured in this run, single-threaded unless the name says otherwise. */
  primitivePerSecond: number;
}

export interface LoadOptions {
  port: number;
  connections: number;
  durationMs: number;
  /** Returns the next request line (without LF) for connection `conn`. */
  line(conn: number, seq: number): string;
  /** Checks a reply; a bad reply aborts the run so a broken daemon never posts a good number. */
  check?(reply: string): boolean;
  /** A TLS client channel instead of plain TCP: opens the connection (its first write waits for the handshake). */
  tls?: () => tls.TLSSocket;
}

export interface LoadResult {
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  count: number;
}

export async function loadLines(opts: LoadOptions): Promise<LoadResult> {
  const run = await drive(opts);
  return summarize(run.latencies, run.seconds);
}

/**
 * The daemon's load and the raw primitive, alternating in slices (primitive, load, primitive,
 * load, ...). This VM's single-thread rate drifts by ±15% within a minute (neighbours, clock);
 * measured back to back over the same minutes, the ratio reflects the daemon, not the drift.
 */
export async function loadBesidePrimitive(opts: LoadOptions, primitive: () => void, slices = 8): Promise<LoadResult & { primitivePerSecond: number }> {
  const latencies: number[] = [];
  let seconds = 0;
  let primitiveSum = 0;
  for (let i = 0; i < slices; i++) {
    primitiveSum += primitiveRate(Math.max(200, opts.durationMs / slices / 2), primitive);
    const run = await drive({ ...opts, durationMs: opts.durationMs / slices });
    for (const ms of run.latencies) latencies.push(ms);
    seconds += run.seconds;
  }
  return { ...summarize(latencies, seconds), primitivePerSecond: primitiveSum / slices };
}

/**
 * Two loads (e.g. one daemon with an option off, another with it on) in alternating slices over the
 * same seconds, so that the machine's drift falls on both alike; one result each.
 */
export async function loadAlternating(a: LoadOptions, b: LoadOptions, slices = 8): Promise<[LoadResult, LoadResult]> {
  const runs = [a, b].map(() => ({ latencies: [] as number[], seconds: 0 }));
  for (let i = 0; i < slices; i++) {
    for (const [k, opts] of [a, b].entries()) {
      const run = await drive({ ...opts, durationMs: opts.durationMs / slices });
      for (const ms of run.latencies) runs[k]!.latencies.push(ms);
      runs[k]!.seconds += run.seconds;
    }
  }
  return [summarize(runs[0]!.latencies, runs[0]!.seconds), summarize(runs[1]!.latencies, runs[1]!.seconds)];
}

async function drive(opts: LoadOptions): Promise<{ latencies: number[]; seconds: number }> {
  const latencies: number[] = [];
  const deadline = Date.now() + opts.durationMs;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from(
      { length: opts.connections },
      (_, conn) =>
        new Promise<void>((resolve, reject) => {
          const socket = opts.tls ? opts.tls() : net.connect(opts.port, '127.0.0.1');
          let buffered = '';
          let seq = 0;
          let sentAt = 0n;
          const send = (): void => {
            if (Date.now() >= deadline) {
              socket.end();
              resolve();
              return;
            }
            sentAt = process.hrtime.bigint();
            socket.write(opts.line(conn, seq++) + '\n');
          };
          socket.setNoDelay(true);
          socket.on(opts.tls ? 'secureConnect' : 'connect', send);
          socket.on('data', (d: Buffer) => {
            buffered += d.toString('latin1');
            let nl: number;
            while ((nl = buffered.indexOf('\n')) !== -1) {
              const reply = buffered.slice(0, nl);
              buffered = buffered.slice(nl + 1);
              latencies.push(Number(process.hrtime.bigint() - sentAt) / 1e6);
              if (opts.check && !opts.check(reply)) {
                socket.destroy();
                reject(new Error(`bad reply: ${reply.slice(0, 120)}`));
                return;
              }
              send();
            }
          });
          socket.on('error', reject);
        }),
    ),
  );
  return { latencies, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

/** One-shot load: one client in a loop, as `while :; do echo x | nc host port; done` (the issues' measure). */
export const ONE_SHOT_CLIENTS = 1;

export interface OneShotOptions {
  port: number;
  /** Clients running at once, each one connection after another. */
  clients: number;
  durationMs: number;
  line(client: number, seq: number): string;
  check?(reply: string): boolean;
  /**
   * false: the client writes its line and waits for the daemon to close, as netcat-openbsd does
   * without -N (`echo x | nc host port`); true: it half-closes after the line (`nc -N`).
   */
  halfClose: boolean;
  /** A TLS client channel per request instead of plain TCP (a full handshake each time). */
  tls?: () => tls.TLSSocket;
}

/** One connection per request, timed from connect to the daemon's close (the whole `nc` exchange). */
export async function loadOneShot(opts: OneShotOptions): Promise<LoadResult> {
  // Unmeasured first: JIT, the store's page cache and the kernel's socket caches warm up here, not
  // in whichever row happens to run first.
  await runOneShot({ ...opts, durationMs: ONE_SHOT_WARMUP_MS });
  return runOneShot(opts);
}

/** Connections are short-lived here: a warm-up of this long precedes each measured one-shot run. */
const ONE_SHOT_WARMUP_MS = 300;

async function runOneShot(opts: OneShotOptions): Promise<LoadResult> {
  const latencies: number[] = [];
  const deadline = Date.now() + opts.durationMs;
  const started = process.hrtime.bigint();
  const once = (client: number, seq: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const sentAt = process.hrtime.bigint();
      const socket = opts.tls ? opts.tls() : net.connect(opts.port, '127.0.0.1');
      let reply = '';
      socket.setNoDelay(true);
      socket.on(opts.tls ? 'secureConnect' : 'connect', () => {
        const line = opts.line(client, seq) + '\n';
        if (opts.halfClose) socket.end(line);
        else socket.write(line);
      });
      socket.on('data', (d: Buffer) => (reply += d.toString('latin1')));
      // The daemon closes first; like nc, end our side then.
      socket.on('end', () => socket.end());
      socket.on('close', () => {
        latencies.push(Number(process.hrtime.bigint() - sentAt) / 1e6);
        const first = reply.split('\n')[0] ?? '';
        if (opts.check && !opts.check(first)) reject(new Error(`bad reply: ${first.slice(0, 120)}`));
        else resolve();
      });
      socket.on('error', reject);
    });
  await Promise.all(
    Array.from({ length: opts.clients }, async (_, client) => {
      for (let seq = 0; Date.now() < deadline; seq++) await once(client, seq);
    }),
  );
  return summarize(latencies, Number(process.hrtime.bigint() - started) / 1e9);
}

export interface HttpPostOptions {
  url: string;
  /** Clients posting at once, each one request after another (keep-alive). */
  clients: number;
  durationMs: number;
  /** A fresh multipart form per request. */
  form(client: number, seq: number): FormData;
}

/** Clients POSTing multipart forms in a loop (as builds post to the firmware HTTP API); any status but 200 aborts the run. */
export function loadHttpPosts(opts: HttpPostOptions): Promise<LoadResult> {
  return loadHttp(opts, async (client, seq) => {
    const reply = await fetch(opts.url, { method: 'POST', body: opts.form(client, seq), signal: AbortSignal.timeout(60_000) });
    const body = Buffer.from(await reply.arrayBuffer());
    if (reply.status !== 200) throw new Error(`bad reply: ${reply.status} ${body.toString('utf8', 0, 120)}`);
  });
}

export interface HttpGetOptions {
  /** The URL of request `seq` of client `client`. */
  url(client: number, seq: number): string;
  /** Clients fetching at once, each one request after another (keep-alive). */
  clients: number;
  durationMs: number;
}

/** Clients GETting in a loop (as a mirror follows a served log); any status but 200 aborts the run. */
export function loadHttpGets(opts: HttpGetOptions): Promise<LoadResult> {
  return loadHttp(opts, async (client, seq) => {
    const reply = await fetch(opts.url(client, seq), { signal: AbortSignal.timeout(10_000) });
    await reply.arrayBuffer();
    if (reply.status !== 200) throw new Error(`bad reply: ${reply.status}`);
  });
}

/** `clients` loops of `request`, one request after another each, for durationMs: rate and latencies. */
async function loadHttp(opts: { clients: number; durationMs: number }, request: (client: number, seq: number) => Promise<void>): Promise<LoadResult> {
  const latencies: number[] = [];
  const deadline = Date.now() + opts.durationMs;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: opts.clients }, async (_, client) => {
      for (let seq = 0; Date.now() < deadline; seq++) {
        const sentAt = process.hrtime.bigint();
        await request(client, seq);
        latencies.push(Number(process.hrtime.bigint() - sentAt) / 1e6);
      }
    }),
  );
  return summarize(latencies, Number(process.hrtime.bigint() - started) / 1e9);
}

function summarize(latencies: number[], seconds: number): LoadResult {
  latencies.sort((a, b) => a - b);
  const pick = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  return { perSecond: latencies.length / seconds, p50Ms: pick(0.5), p99Ms: pick(0.99), count: latencies.length };
}

/** Runs a blocking `once` (e.g. a whole outside process) back to back for durationMs: rate and latencies. */
export function loadSync(durationMs: number, once: () => void): LoadResult {
  const latencies: number[] = [];
  const started = process.hrtime.bigint();
  const deadline = Date.now() + durationMs;
  while (Date.now() < deadline) {
    const at = process.hrtime.bigint();
    once();
    latencies.push(Number(process.hrtime.bigint() - at) / 1e6);
  }
  return summarize(latencies, Number(process.hrtime.bigint() - started) / 1e9);
}

/** Rate of a synchronous primitive on this thread, in operations per second. */
export function primitiveRate(durationMs: number, op: () => void): number {
  for (let i = 0; i < 5; i++) op();
  const started = process.hrtime.bigint();
  const deadline = Date.now() + durationMs;
  let count = 0;
  while (Date.now() < deadline) {
    op();
    count++;
  }
  return count / (Number(process.hrtime.bigint() - started) / 1e9);
}

export function formatRows(rows: BenchRow[]): string {
  const header = ['daemon', 'operation', 'per s', 'p50 ms', 'p99 ms', 'raw primitive', 'raw per s', 'ratio'];
  const body = rows.map((r) => [
    r.daemon,
    r.operation,
    r.perSecond.toFixed(0),
    r.p50Ms.toFixed(2),
    r.p99Ms.toFixed(2),
    r.primitive,
    r.primitivePerSecond.toFixed(0),
    (r.perSecond / r.primitivePerSecond).toFixed(2) + 'x',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  return [header, ...body].map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')).join('\n');
}

/** BENCH_METRICS=1: daemons run with their metrics listener on (issue #13: within 5% of off). */
export function metricsArgs(): string[] {
  return process.env['BENCH_METRICS'] === '1' ? ['--metrics-port', '0'] : [];
}
