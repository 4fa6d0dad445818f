// Shared by the transparency log tests: a key made by `signerd log keygen`, a log filled through
// the library, the Go verifier, byte flips in files and in note signatures, a daemon's log read
// back, and the checkpoints seen during a crash loop checked pairwise for consistency.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import type { Test } from 'tap';
import { runSignerd } from '../../helpers/daemon.js';
import { goTool, needGo } from '../../helpers/go-tools.js';
import { decodeLogEntry } from '../../../lib/transparency/log-entry.js';
import { signatureArg } from '../../../lib/admin/log-command.js';
import { readCheckpointFile } from '../../../lib/transparency/tile-publisher.js';
import { openPublishedTree } from '../../../lib/transparency/tile-reader.js';
import { loadCheckpointSignerFile } from '../../../lib/transparency/checkpoint-signer.js';
import { generateNoteKey } from '../../../lib/transparency/note-key.js';
import { openTransparencyLog, type TransparencyLog } from '../../../lib/transparency/transparency-log.js';
import { SEQUENCER_FILE } from '../../../lib/transparency/sequencer-db.js';
import { verifyCheckpoint, type Checkpoint } from '../../../lib/transparency/checkpoint.js';
import { consistencyProof, type NodeSource } from '../../../lib/transparency/merkle-tree.js';
import { verifyConsistency } from '../../../lib/transparency/merkle-proof-check.js';
import type { NoteVerifierKey } from '../../../lib/transparency/note-key.js';
import type { LogEvent } from '../../../lib/transparency/log-entry.js';
import { waitFor } from '../../helpers/polling.js';

export const ORIGIN = 'signerd.test/log';

/** `signerd log keygen`: the key file and the verifier key (its last line). */
export async function keygenCommand(dir: string, origin = ORIGIN): Promise<{ keyFile: string; vkey: string }> {
  const keyFile = path.join(dir, `${origin.replace(/\W/g, '-')}.key`);
  const r = await runSignerd(['log', 'keygen', '--origin', origin, '--out', keyFile]);
  if (r.code !== 0) throw new Error(`keygen failed: ${r.stderr}`);
  return { keyFile, vkey: r.stdout.trim().split('\n').pop()! };
}

/** The same key files as keygenCommand, made in-process (no process start on a busy machine). */
export async function makeKey(dir: string, origin = ORIGIN): Promise<{ keyFile: string; vkey: string }> {
  const keyFile = path.join(dir, `${origin.replace(/\W/g, '-')}.key`);
  const { privateKeyText, verifierKey } = generateNoteKey(origin);
  fs.writeFileSync(keyFile, `${privateKeyText}\n`, { mode: 0o600, flag: 'wx' });
  return { keyFile, vkey: verifierKey };
}

/** Opens a log with one key file; `bounds` overrides the lock wait and append deadline (defaults otherwise). */
export function openLog(
  logDir: string,
  keyFile: string,
  checkpointIntervalMs = 60_000,
  bounds: { lockWaitMsMax?: number; appendMsMax?: number } = {},
): Promise<TransparencyLog> {
  return openTransparencyLog({ dir: logDir, signers: [loadCheckpointSignerFile(keyFile)], checkpointIntervalMs, ...bounds });
}

/** The stand-in signature of event i: 32 bytes, unique per label. */
export function signatureOf(label: string, i: number): Buffer {
  return crypto.createHash('sha256').update(`${label}/${i}`).digest();
}

/** A mix of the kinds daemons and admin commands will log. */
function eventFor(i: number): LogEvent {
  const signature = signatureOf('sig', i);
  if (i % 50 === 7) return { kind: 'revoke', source: 'admin', signature: signatureOf('sig', i - 1) };
  if (i % 100 === 3) return { kind: 'key-loaded', source: 'sign-ecdsa', keyId: 'a1b2c3d4e5f60718', algorithm: 'ecdsa-p384', backend: 'file' };
  return {
    kind: 'sign',
    source: 'sign-ecdsa',
    keyId: 'a1b2c3d4e5f60718',
    algorithm: 'ecdsa-p384',
    messageSha256: crypto.createHash('sha256').update(`message ${i}`).digest(),
    signature,
  };
}

export async function appendRange(log: TransparencyLog, from: number, to: number): Promise<number[]> {
  return Promise.all(Array.from({ length: to - from }, (_, k) => log.append(eventFor(from + k))));
}

export interface GoResult {
  code: number | null;
  out: string;
}

export function runGo(...args: string[]): GoResult {
  const r = spawnSync(goTool('tlog-verify'), args, { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}`.trim() };
}

/** Flips one bit of the byte at `offset` (negative: from the end) of a file. */
export function flipFileByte(file: string, offset: number): void {
  const data = fs.readFileSync(file);
  const at = offset < 0 ? data.length + offset : offset;
  data[at] = data[at]! ^ 0x01;
  fs.writeFileSync(file, data);
}

/** Flips one byte of the Ed25519 signature inside a note's last signature line (not its key id). */
export function flipNoteSignature(note: string): string {
  const lines = note.split('\n');
  const i = lines.length - 2;
  const [dash, name, b64] = lines[i]!.split(' ') as [string, string, string];
  const raw = Buffer.from(b64, 'base64');
  raw[10] = raw[10]! ^ 0x01;
  lines[i] = `${dash} ${name} ${raw.toString('base64')}`;
  return lines.join('\n');
}

export function copyDir(from: string, to: string): string {
  fs.cpSync(from, to, { recursive: true });
  return to;
}

export interface Ack {
  index: number;
  signature: string;
}

export interface Appender {
  readonly proc: ChildProcess;
  readonly acks: Ack[];
  /** Resolves when the process has opened the log. */
  readonly opened: Promise<void>;
  /** Resolves with the exit code (null after a signal). */
  readonly exited: Promise<number | null>;
  stderr(): string;
}

const APPENDER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../helpers/log-appender-process.js');

/** A separate process appending `count` entries (0: until killed), `concurrency` at a time. */
export function spawnAppender(logDir: string, keyFile: string, tag: string, count: number, concurrency: number): Appender {
  const proc = spawn(process.execPath, [APPENDER, logDir, keyFile, tag, String(count), String(concurrency)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const acks: Ack[] = [];
  let stderr = '';
  let buffered = '';
  let markOpen: () => void = () => undefined;
  const opened = new Promise<void>((resolve) => (markOpen = resolve));
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  proc.stdout!.on('data', (d: Buffer) => {
    buffered += d.toString();
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = JSON.parse(buffered.slice(0, nl)) as { open?: boolean; index?: number; signature?: string };
      buffered = buffered.slice(nl + 1);
      if (line.open) markOpen();
      if (line.index !== undefined) acks.push({ index: line.index, signature: line.signature! });
    }
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return { proc, acks, opened, exited, stderr: () => stderr };
}

/** Every entry the published checkpoint covers, decoded. */
export function publishedEntries(logDir: string): Array<Record<string, unknown>> {
  const file = readCheckpointFile(logDir);
  if (!file) return [];
  const tree = openPublishedTree(logDir, file.checkpoint.size);
  return Array.from({ length: file.checkpoint.size }, (_, i) => decodeLogEntry(tree.entry(i))!);
}

/**
 * Waits for a checkpoint over the signature's entry (one follows within a second of the append),
 * then bundles it with `signerd log bundle` and checks the bundle offline with `signerd log verify`
 * and with the Go verifier.
 */
export async function checkBundle(t: Test, dir: string, logDir: string, vkey: string, signature: string): Promise<void> {
  const hex = signatureArg(signature).toString('hex');
  await waitFor(() => publishedEntries(logDir).some((e) => e['kind'] === 'sign' && e['signature'] === hex), 5_000, 'a checkpoint over the entry');
  const file = path.join(dir, `${signature.slice(0, 16)}.tlog-proof`);
  const bundle = await runSignerd(['log', 'bundle', signature, '--transparency-log', logDir, '--out', file]);
  t.equal(bundle.code, 0, `signerd log bundle ${signature.slice(0, 16)}…: ${bundle.stderr}`);
  const verify = await runSignerd(['log', 'verify', file, '--log-key', vkey, '--signature', signature]);
  t.equal(verify.code, 0, `signerd log verify: ${verify.stderr}`);
  if (!needGo().skip) {
    const go = runGo('bundle', vkey, file);
    t.equal(go.code, 0, `the Go verifier accepts the bundle: ${go.out}`);
  }
}

/** Every checkpoint anyone could have fetched: the file, polled every 5 ms until stop() (or the test's end). */
export function watchCheckpoints(t: Test, logDir: string): { seen: Set<string>; stop(): void } {
  const seen = new Set<string>();
  const watch = setInterval(() => {
    try {
      seen.add(fs.readFileSync(path.join(logDir, 'checkpoint'), 'utf8'));
    } catch {
      // Not there yet, or mid-rename.
    }
  }, 5);
  t.teardown(() => clearInterval(watch));
  return { seen, stop: () => clearInterval(watch) };
}

/**
 * Verifies every note with `key` and a consistency proof (from `tree`) between every pair of them,
 * failing `t` on each pair that is not consistent: the log never shrank or forked. Sizes ascending.
 */
export function checkPairwiseConsistent(
  t: Test,
  notes: Iterable<string>,
  key: NoteVerifierKey,
  tree: NodeSource,
): { checkpoints: Checkpoint[]; pairs: number } {
  const checkpoints: Checkpoint[] = [...notes].map((note) => {
    const verdict = verifyCheckpoint(note, key);
    if (!verdict.ok) throw new Error(verdict.reason);
    return verdict.checkpoint;
  });
  checkpoints.sort((a, b) => a.size - b.size);
  let pairs = 0;
  for (let i = 0; i < checkpoints.length; i++) {
    for (let j = i + 1; j < checkpoints.length; j++) {
      const [a, b] = [checkpoints[i]!, checkpoints[j]!];
      if (!verifyConsistency(a.size, b.size, a.root, b.root, consistencyProof(tree, a.size, b.size)))
        t.fail(`checkpoints ${a.size} and ${b.size} are not consistent`);
      pairs++;
    }
  }
  return { checkpoints, pairs };
}

/**
 * Another process's hold on the log's write lock (here: another connection), as a daemon stopped
 * mid-commit holds it. `release` gives it back (also at teardown, if the test did not).
 */
export function holdWriteLock(t: Pick<Test, 'teardown'>, logDir: string): { release(): void } {
  const holder = new Database(path.join(logDir, SEQUENCER_FILE), { timeout: 1_000 });
  holder.exec('BEGIN IMMEDIATE');
  let held = true;
  const release = (): void => {
    if (!held) return;
    held = false;
    holder.exec('ROLLBACK');
    holder.close();
  };
  t.teardown(release);
  return { release };
}
