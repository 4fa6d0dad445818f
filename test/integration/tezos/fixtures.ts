// Shared set-up for the tezos integration tests: the known test keys from the reference notes
// (Taquito's vectors), a keys.json writer, the daemon in this process or as its own process, a small
// HTTP client and the one way to wait for a condition.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Test } from 'tap';
import { createLogger } from '../../../lib/log/logger.js';
import { defaultedOn, serveOptions, serveSettings } from '../../../daemons/tezos/config/serve-options.js';
import { startTezosDaemon } from '../../../daemons/tezos/tezos-daemon.js';
import { startDaemon, type RunningDaemon } from '../../helpers/daemon.js';
import { retryUntil } from '../../helpers/polling.js';

export const TZ1 = {
  pkh: 'tz1b9kV41KV9N3sp69ycLdSoZ2Ak8jXwtNPv',
  sk: 'edsk4TjJWEszkHKono7XMnepVqwi37FrpbVt1KCsifJeAGimxheShG',
  pk: 'edpkuhmrbunxumoiVdQuxBZUPMmwkPt7yLtY5Qnua3VJVTLWr3vXXa',
};
export const TZ2 = {
  pkh: 'tz2Ch1abG7FNiibmV26Uzgdsnfni9XGrk5wD',
  sk: 'spsk2rBDDeUqakQ42nBHDGQTtP3GErb6AahHPwF9bhca3Q5KA5HESE',
  pk: 'sppk7aqSksZan1AGXuKtCz9UBLZZ77e3ZWGpFxR7ig1Z17GneEhSSbH',
};
export const TZ3 = {
  pkh: 'tz3Lfm6CyfSTZ7EgMckptZZGiPxzs9GK59At',
  sk: 'p2sk2obfVMEuPUnadAConLWk7Tf4Dt3n4svSgJwrgpamRqJXvaYcg1',
  pk: 'p2pk66tTYL5EvahKAXncbtbRPBkAnxo3CszzUho5wPCgWauBMyvybuB',
};
export const TZ4 = {
  pkh: 'tz4JmbuiJGyC2thisABCS59PnGr749dsP4WY',
  sk: 'BLsk2zk6pBGysG9BJn4u3XNtFnJQ1wpUYz6sQMTZQdfxQaiBWkqLyh',
  pk: 'BLpk1oWB1ZbeKePu8FiRMpktQoZw1rPs67qu6zbnYxiCcJDyZih8PXUiGnLyMWR6Fay9cDNyCzj9',
};
/** A client key for authentication (Taquito's 64-byte edsk vector). */
export const CLIENT = {
  pkh: 'tz1RvhdZ5pcjD19vCCK9PgZpnmErTba3dsBs',
  sk: 'edskS3DtVSbWbPD1yviMGebjYwWJtruMjDcfAZsH9uba22EzKeYhmQkkraFosFETmEMfFNVcDYQ5QbFerj9ozDKroXZ6mb5oxV',
};

export function tempDir(t: Test, name = 'signerd-tezos-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), name));
  // Teardowns run in the order they were registered, so a daemon started after this may still be
  // running while the directory goes: its readiness probe can make a file between rm's listing and
  // its rmdir (ENOTEMPTY). rmSync tries again for that.
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }));
  return dir;
}

/** Writes a keys.json (secret keys inside, so mode 0600) and returns its path. */
export function writeKeys(dir: string, config: unknown, name = 'keys.json'): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, JSON.stringify(config, null, 2), { mode: 0o600 });
  return file;
}

/** The seed's keys.json: every key, baking allowed, the given votes. */
export function seedKeys(keys: Array<{ pkh: string; sk: string }>, policy: Record<string, unknown> = { baking: 1 }): unknown {
  return { keys: Object.fromEntries(keys.map((k) => [k.pkh, { secret_key: k.sk }])), policy };
}

export interface TezosDaemon {
  daemon: RunningDaemon;
  linePort: number;
  httpPort: number;
}

/**
 * Runs `signerd tezos` in this process: the same options, settings and composition on free loopback
 * ports, without the process around it (umask, signals, exit 78). For what the wire shows; signals,
 * crashes, start-up and exit codes need `startTezos`. Stopped at teardown (and by `stop`).
 */
export async function serveTezos(t: Test, keysFile: string, args: string[]): Promise<ServedTezos> {
  const cmd = serveOptions().exitOverride();
  cmd.parse(['--keys', keysFile, '--port', '0', '--http-port', '0', '--keep-open', '--init-watermarks', ...args], { from: 'user' });
  const opts = cmd.opts();
  const logs: Array<Record<string, unknown>> = [];
  const log = createLogger('tezos', opts.logLevel, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  const daemon = await startTezosDaemon(serveSettings(opts, defaultedOn(cmd)), log);
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopped ??= daemon.stop());
  t.teardown(stop);
  return { linePort: daemon.linePort ?? 0, httpPort: daemon.httpPort ?? 0, logs, stop };
}

export interface ServedTezos {
  linePort: number;
  httpPort: number;
  /** Every log line so far, parsed. */
  logs: Array<Record<string, unknown>>;
  /** A restart is `stop` and another serveTezos on the same state: what was only in memory is gone. */
  stop(): Promise<void>;
}

/** POST /keys/<pkh> until the watermark store answers (anything but 503): Redis connects asynchronously. */
export function httpSignWhenStoreUp(port: number, pkh: string, payload: Buffer | ((i: number) => Buffer)): ReturnType<typeof httpSign> {
  return retryUntil(
    (i) => httpSign(port, pkh, typeof payload === 'function' ? payload(i) : payload),
    (r) => r.status !== 503,
    10_000,
    50,
  );
}

/** Starts `signerd tezos` with both listeners on free ports; stopped at teardown. */
export async function startTezos(t: Test, keysFile: string, args: string[], env?: NodeJS.ProcessEnv): Promise<TezosDaemon> {
  const daemon = await startDaemon(['tezos', '--keys', keysFile, '--port', '0', '--http-port', '0', '--keep-open', '--init-watermarks', ...args], {
    listeners: 2,
    ...(env ? { env } : {}),
  });
  t.teardown(() => daemon.stop('SIGKILL'));
  return { daemon, linePort: daemon.ports[0]!, httpPort: daemon.ports[1]! };
}

export interface HttpResult {
  status: number;
  body: unknown;
  /** The signerd error code of a refusal (header x-signerd-error-code), or null. */
  code: string | null;
  /** A 405's Allow header, or null. */
  allow: string | null;
}

export async function http(port: number, method: 'GET' | 'HEAD' | 'POST' | 'DELETE', urlPath: string, body?: unknown): Promise<HttpResult> {
  const res = await fetch(`http://127.0.0.1:${port}${urlPath}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: typeof body === 'string' && body.startsWith('RAW:') ? body.slice(4) : JSON.stringify(body) }),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // keep the text
  }
  return { status: res.status, body: parsed, code: res.headers.get('x-signerd-error-code'), allow: res.headers.get('allow') };
}

/** POST /keys/<pkh> with the hex of `payload`; resolves with status and the signature or error. */
export async function httpSign(
  port: number,
  pkh: string,
  payload: Buffer,
  query = '',
): Promise<{ status: number; signature: string | null; body: unknown; code: string | null }> {
  const r = await http(port, 'POST', `/keys/${pkh}${query}`, payload.toString('hex'));
  const signature = r.status === 200 ? ((r.body as { signature?: string }).signature ?? null) : null;
  return { status: r.status, signature, body: r.body, code: r.code };
}

/**
 * The check an octez client makes on an error body (data-encoding destructs it against the
 * registered `failure` error: kind "temporary", id "failure", a string `msg`, no other field);
 * anything else it prints as "Unregistered error: {…}". Returns the messages, or null.
 */
export function octezErrorMessages(body: unknown): string[] | null {
  if (!Array.isArray(body) || body.length === 0) return null;
  const messages: string[] = [];
  for (const error of body as unknown[]) {
    if (typeof error !== 'object' || error === null) return null;
    const e = error as Record<string, unknown>;
    if (Object.keys(e).sort().join(',') !== 'id,kind,msg' || e['kind'] !== 'temporary' || e['id'] !== 'failure' || typeof e['msg'] !== 'string') return null;
    messages.push(e['msg']);
  }
  return messages;
}

/** Sends input through the real `nc -N` and resolves with the reply lines. */
export function nc(port: number, input: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn('nc', ['-N', '127.0.0.1', String(port)], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', () => resolve(out.split('\n').filter(Boolean)));
    child.stdin.on('error', () => {}); // an early exit shows in the output; its EPIPE is not the failure
    child.stdin.end(input);
  });
}
