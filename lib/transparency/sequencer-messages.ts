// The messages between a TransparencyLog (daemon thread) and its sequencer worker thread.
import type { ErrorCode } from '../errors.js';

export interface SequencerWorkerData {
  dir: string;
  origin: string;
  lockWaitMsMax: number;
}

export interface HeadState {
  size: number;
  /** Root hash of the tree at `size` (empty when size is 0). */
  root: Uint8Array;
  publishedSize: number;
  publishedNote: string | null;
}

export type SequencerRequest =
  | { id: number; op: 'append'; entries: Array<{ bytes: Uint8Array; signature: Uint8Array | null }> }
  | { id: number; op: 'head' }
  | { id: number; op: 'publish'; size: number; note: string }
  | { id: number; op: 'close' };

/** A request before the log gives it its id. */
export type SequencerCall = SequencerRequest extends infer R ? (R extends SequencerRequest ? Omit<R, 'id'> : never) : never;

export type SequencerReply =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; code: ErrorCode; message: string };

/** The worker's first message: open and reconciled, or why not. */
export type SequencerReady = { ready: true; size: number } | { ready: false; code: ErrorCode; message: string };
