// The messages between a TransparencyLog (daemon thread) and its sequencer worker thread.
import type { ErrorCode } from '../errors.js';

export interface SequencerWorkerData {
  dir: string;
  origin: string;
  lockWaitMsMax: number;
}

/**
 * A batch of entries in one buffer, transferred rather than copied: posting many small Buffers
 * would clone each one's whole 8 KiB pool slab.
 */
export interface PackedBatch {
  data: Uint8Array;
  /** Per entry: its length, then its signature's length (0: none); entry then signature in `data`. */
  lengths: number[];
}

export function packBatch(entries: ReadonlyArray<{ bytes: Uint8Array; signature: Uint8Array | null }>): PackedBatch {
  let total = 0;
  for (const e of entries) total += e.bytes.length + (e.signature?.length ?? 0);
  const data = Buffer.allocUnsafeSlow(total);
  const lengths: number[] = [];
  let at = 0;
  for (const e of entries) {
    data.set(e.bytes, at);
    at += e.bytes.length;
    if (e.signature) data.set(e.signature, at);
    at += e.signature?.length ?? 0;
    lengths.push(e.bytes.length, e.signature?.length ?? 0);
  }
  return { data, lengths };
}

export function unpackBatch(batch: PackedBatch): Array<{ bytes: Buffer; signature: Buffer | null }> {
  const data = Buffer.from(batch.data.buffer, batch.data.byteOffset, batch.data.byteLength);
  const entries: Array<{ bytes: Buffer; signature: Buffer | null }> = [];
  let at = 0;
  for (let i = 0; i < batch.lengths.length; i += 2) {
    const entryLength = batch.lengths[i]!;
    const signatureLength = batch.lengths[i + 1]!;
    entries.push({
      bytes: data.subarray(at, at + entryLength),
      signature: signatureLength > 0 ? data.subarray(at + entryLength, at + entryLength + signatureLength) : null,
    });
    at += entryLength + signatureLength;
  }
  return entries;
}

export interface HeadState {
  size: number;
  /** Root hash of the tree at `size` (empty when size is 0). */
  root: Uint8Array;
  publishedSize: number;
  publishedNote: string | null;
}

export type SequencerRequest =
  | { id: number; op: 'append'; batch: PackedBatch }
  | { id: number; op: 'head' }
  | { id: number; op: 'publish'; size: number; note: string }
  | { id: number; op: 'probe'; lockWaitMs: number }
  | { id: number; op: 'close' };

/** A request before the log gives it its id. */
export type SequencerCall = SequencerRequest extends infer R ? (R extends SequencerRequest ? Omit<R, 'id'> : never) : never;

export type SequencerReply = { id: number; ok: true; result: unknown } | { id: number; ok: false; code: ErrorCode; message: string };

/** The worker's first message: open and reconciled, or why not. */
/** The database file the writer thread opened and reconciled with the published checkpoint (device and inode). */
export interface ReconciledFile {
  dev: number;
  ino: number;
}

export type SequencerReady = { ready: true; size: number; file: ReconciledFile } | { ready: false; code: ErrorCode; message: string };
