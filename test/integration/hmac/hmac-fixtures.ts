// Shared pieces of the hmac integration tests: the independent Python reference over the same
// secret files, the daemon started with all its listeners, and raw socket helpers.
import { spawnSync } from 'node:child_process';
import { startDaemon, type RunningDaemon } from '../../helpers/daemon.js';
import { sourceFile } from '../../unit/hmac/hmac-vectors.js';
import { waitFor } from '../../helpers/polling.js';

export interface ReferenceTag {
  tag: string;
  hash: number;
}

/** Tags from test/integration/hmac/cryptoserver_reference.py (Python hmac/hashlib, its own MurmurHash3). */
export function referenceTags(mode: string, dir: string, messages: readonly Buffer[], version?: number): ReferenceTag[] {
  const script = sourceFile('test', 'integration', 'hmac', 'cryptoserver_reference.py');
  const args = [script, mode, dir, ...(version === undefined ? [] : [String(version)])];
  const run = spawnSync('python3', args, { input: messages.map((m) => m.toString('hex')).join('\n') + '\n', encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`python reference failed: ${run.stderr}`);
  return run.stdout
    .trim()
    .split('\n')
    .map((line) => {
      const [tag, hash] = line.split(' ');
      return { tag: tag!, hash: Number(hash) };
    });
}

/** Starts `signerd hmac` on port 0 for MAC and verify (and HTTP when asked); ports: [mac, verify, http?]. */
export function startHmac(args: string[], http = false): Promise<RunningDaemon> {
  const ports = ['--port', '0', '--verify-port', '0', ...(http ? ['--http-port', '0'] : [])];
  return startDaemon(['hmac', ...ports, ...args], { listeners: http ? 3 : 2 });
}

/** Waits until the daemon logged a line with this message after `from` lines. */
export function waitForLog(daemon: RunningDaemon, msg: string, from: number, msMax = 5000): Promise<Record<string, unknown>> {
  return waitFor(() => daemon.logs.slice(from).find((l) => l['msg'] === msg), msMax, `a "${msg}" log line`);
}

/** Random message bytes without LF and without leading/trailing ASCII whitespace (trimmed on the wire). */
export function randomMessage(bytes: number, seed: number): Buffer {
  const out = Buffer.alloc(bytes);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < bytes; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = 0x21 + ((x >>> 16) % 0xde);
  }
  return out;
}

/** Whether the Python `requests` package (the seed's client library) is importable. */
export function pythonHas(module: string): boolean {
  return spawnSync('python3', ['-c', `import ${module}`]).status === 0;
}
