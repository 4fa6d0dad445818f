// The messages between prehashed-check-threads.ts and its workers (prehashed-check-worker.ts).
import type { PrehashedCurve } from './prehashed-ecdsa.js';

export interface CheckRequest {
  id: number;
  curve: PrehashedCurve;
  /** The public key, SEC 1 encoded. */
  point: Uint8Array;
  digest: Uint8Array;
  signature: Uint8Array;
  lowS: boolean;
}

export interface CheckReply {
  id: number;
  ok: boolean;
}
