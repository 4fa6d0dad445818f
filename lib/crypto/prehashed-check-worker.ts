// The worker side of prehashed-check-threads.ts: checks ECDSA signatures over bare digests with a
// verifier (and its tables) kept per public key, and answers each request by its id.
import { parentPort } from 'node:worker_threads';
import { prehashedVerifier, type PrehashedCurve, type PrehashedVerifier } from './prehashed-ecdsa.js';
import type { CheckReply, CheckRequest } from './prehashed-check-messages.js';

/** Keys a daemon checks with are its own (a handful); past this many, the cache starts again. */
const VERIFIERS_MAX = 64;
const verifiers = new Map<string, PrehashedVerifier | null>();

function verifierFor(curve: PrehashedCurve, point: Uint8Array): PrehashedVerifier | null {
  const key = `${curve}:${Buffer.from(point).toString('hex')}`;
  let verifier = verifiers.get(key);
  if (verifier === undefined) {
    if (verifiers.size >= VERIFIERS_MAX) verifiers.clear();
    try {
      verifier = prehashedVerifier(curve, point);
    } catch {
      verifier = null; // not a point on the curve: nothing verifies under it
    }
    verifiers.set(key, verifier);
  }
  return verifier;
}

parentPort!.on('message', (request: CheckRequest) => {
  const verifier = verifierFor(request.curve, request.point);
  const reply: CheckReply = { id: request.id, ok: verifier !== null && verifier.verify(request.digest, request.signature, request.lowS) };
  parentPort!.postMessage(reply);
});
