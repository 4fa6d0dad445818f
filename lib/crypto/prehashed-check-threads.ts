// ECDSA checks over bare digests on worker threads. A check is about 0.35 ms of BigInt arithmetic
// on P-256, as long as the rest of a request's work: on the event loop it held a daemon that signs
// with an HSM or signs Mender digests to one core. One worker per core but the event loop's.
import type { KeyObject } from 'node:crypto';
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { DaemonError } from '../errors.js';
import { curveOf, pointOf, prehashedVerifierOf, type PrehashedCurve } from './prehashed-ecdsa.js';
import type { CheckReply, CheckRequest } from './prehashed-check-messages.js';

interface Thread {
  worker: Worker;
  pending: Map<number, { resolve(ok: boolean): void; reject(err: DaemonError): void }>;
}

const threads: Thread[] = [];
let nextId = 1;
let turn = 0;

/** Threads to use: none on one core (the check runs on the event loop, as it would wait for it anyway). */
const THREADS = Math.max(0, os.availableParallelism() - 1);

/**
 * True only if `signature` (compact r‖s) verifies over `digest` with the EC `publicKey`; false for
 * anything else, a key on a curve without digest ECDSA included. It rejects only when the check
 * could not run: a worker that fails or stops rejects every check it held with INTERNAL (the caller
 * withholds those signatures, and the error says the check, not the signature, failed); the next
 * check starts a new worker.
 */
export function checkPrehashed(publicKey: KeyObject, digest: Uint8Array, signature: Uint8Array, lowS: boolean): Promise<boolean> {
  let curve: PrehashedCurve;
  try {
    curve = curveOf(publicKey);
  } catch {
    return Promise.resolve(false);
  }
  if (THREADS === 0) return Promise.resolve(prehashedVerifierOf(publicKey).verify(digest, signature, lowS));
  const thread = pickThread();
  const id = nextId++;
  const request: CheckRequest = { id, curve, point: pointOf(publicKey), digest, signature, lowS };
  return new Promise((resolve, reject) => {
    thread.pending.set(id, { resolve, reject });
    if (thread.pending.size === 1) thread.worker.ref();
    thread.worker.postMessage(request);
  });
}

/** Stops the workers (tests; a daemon's exit ends them anyway, they never hold it open). */
export async function stopPrehashedChecks(): Promise<void> {
  const stopping = threads.splice(0).map((thread) => thread.worker.terminate());
  await Promise.all(stopping);
}

/** The thread with the fewest checks in flight (ties in turn); another starts only when every one is busy. */
function pickThread(): Thread {
  if (threads.length < THREADS && threads.every((thread) => thread.pending.size > 0)) threads.push(startThread());
  let best = threads[turn++ % threads.length]!;
  for (const thread of threads) if (thread.pending.size < best.pending.size) best = thread;
  return best;
}

function startThread(): Thread {
  // No inherited --import/--require hooks: they are for the main thread (a test runner's loader,
  // an APM agent) and would load into the worker at its start.
  const worker = new Worker(new URL('./prehashed-check-worker.js', import.meta.url), { execArgv: [] });
  const thread: Thread = { worker, pending: new Map() };
  worker.unref();
  worker.on('message', (reply: CheckReply) => {
    const check = thread.pending.get(reply.id);
    if (!check) return;
    thread.pending.delete(reply.id);
    if (thread.pending.size === 0) worker.unref();
    check.resolve(reply.ok === true);
  });
  const failed = (why: string): void => {
    const index = threads.indexOf(thread);
    if (index !== -1) threads.splice(index, 1);
    const err = new DaemonError('INTERNAL', `the ECDSA check thread stopped (${why}); the signature was withheld`);
    for (const check of thread.pending.values()) check.reject(err);
    thread.pending.clear();
  };
  worker.on('error', (err) => failed(err.message));
  worker.on('exit', (code) => failed(`exit code ${code}`));
  return thread;
}
