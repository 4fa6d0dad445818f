// The high-watermark rule that keeps a baker from double signing, as pure functions, and the
// small store interface both backends (SQLite, Redis) implement with an atomic reserve.
import { blake2b } from '@noble/hashes/blake2.js';

/** Request kinds that carry a watermark; the kind comes from the magic byte. */
export type MarkedKind = 'block' | 'preattestation' | 'attestation';
export const MARKED_KINDS: readonly MarkedKind[] = ['block', 'preattestation', 'attestation'];

/** One watermark slot: a key signs for one chain and one kind. */
export interface Slot {
  chainId: string;
  pkh: string;
  kind: MarkedKind;
}

/** What is stored per slot: the highest (level, round) reserved, its payload digest and, once made, its signature. */
export interface Mark {
  level: number;
  round: number;
  /** Hex blake2b-256 of the full signed bytes (octez stores the same hash). */
  digest: string;
  /** b58 signature; null while signing is in progress, or forever if the signer died in between. */
  signature: string | null;
}

export interface MarkEntry extends Slot, Mark {}

/** Outcome of an atomic reserve. */
export type ReserveOutcome =
  | { kind: 'reserved' }
  /** Same (level, round) and same bytes: the stored signature (null: reserved but not yet recorded). */
  | { kind: 'same'; signature: string | null }
  | { kind: 'rejected'; stored: Mark };

/** The consumer-owned seam: what the sign service needs from a watermark backend. */
export interface WatermarkStore {
  /** Atomically and durably: advance the slot to `mark` if strictly above, else report why not. */
  reserve(slot: Slot, mark: Omit<Mark, 'signature'>): Promise<ReserveOutcome>;
  /** Records the signature for the mark reserved earlier, only if that mark is still current and unsigned. */
  recordSignature(slot: Slot, mark: Omit<Mark, 'signature'>, signature: string): Promise<void>;
  /** Reads the stored mark of one slot (null: never signed). */
  read(slot: Slot): Promise<Mark | null>;
  /** Resolves true once the store answers (Redis connects asynchronously), false after msMax. */
  ready(msMax: number): Promise<boolean>;
  close(): Promise<void>;
}

/** Admin abilities (show, set, export, import); kept apart from the hot path. */
export interface WatermarkAdmin {
  list(): Promise<MarkEntry[]>;
  /** Writes a mark. Without `force` it only ever raises a slot; returns false when it would lower it. */
  put(entry: MarkEntry, force: boolean): Promise<boolean>;
}

export function payloadDigest(payload: Uint8Array): string {
  return Buffer.from(blake2b(payload, { dkLen: 32 })).toString('hex');
}

/** Lexicographic order on (level, round): negative, zero or positive. */
function compareMarks(a: { level: number; round: number }, b: { level: number; round: number }): number {
  return a.level !== b.level ? a.level - b.level : a.round - b.round;
}

/** The rule: strictly above → reserve; equal with the same bytes → same; anything else → rejected. */
export function decide(stored: Mark | null, request: Omit<Mark, 'signature'>): ReserveOutcome {
  if (stored === null) return { kind: 'reserved' };
  const order = compareMarks(request, stored);
  if (order > 0) return { kind: 'reserved' };
  if (order === 0 && request.digest === stored.digest) return { kind: 'same', signature: stored.signature };
  return { kind: 'rejected', stored };
}

/**
 * The 409 / ERR WATERMARK_REJECTED text: octez's own words (so a baker's operator reads what
 * octez-signer would have said), then both marks and the slot, which octez leaves out.
 */
export function rejectionMessage(slot: Slot, request: Omit<Mark, 'signature'>, stored: Mark): string {
  const where = ` (requested ${request.level}/${request.round}, high watermark ${stored.level}/${stored.round}, ${slot.pkh} on ${slot.chainId})`;
  if (request.level < stored.level) return `${slot.kind} level ${request.level} below high watermark ${stored.level}${where}`;
  if (compareMarks(request, stored) < 0) {
    return `${slot.kind} level ${request.level} and round ${request.round} not above high watermark (${stored.level},${stored.round})${where}`;
  }
  return `${slot.kind} level ${request.level} and round ${request.round} already signed with different data${where}`;
}

/** Validates one exported/imported entry; returns a reason or null. */
export function invalidEntryReason(entry: Partial<MarkEntry>): string | null {
  if (typeof entry.chainId !== 'string' || !/^Net[1-9A-HJ-NP-Za-km-z]{12}$/.test(entry.chainId)) return 'chainId: expected a Net… chain id';
  if (typeof entry.pkh !== 'string' || !/^tz[1-5][1-9A-HJ-NP-Za-km-z]{33}$/.test(entry.pkh)) return 'pkh: expected a tz1…tz5 address';
  if (!MARKED_KINDS.includes(entry.kind as MarkedKind)) return `kind: expected one of ${MARKED_KINDS.join(', ')}`;
  if (!isInt32(entry.level) || (entry.level as number) < 0) return 'level: expected a non-negative int32';
  if (!isInt32(entry.round) || (entry.round as number) < 0) return 'round: expected a non-negative int32';
  if (typeof entry.digest !== 'string' || !/^([0-9a-f]{64})?$/.test(entry.digest)) return 'digest: expected 64 hex digits or ""';
  if (entry.signature !== null && entry.signature !== undefined && typeof entry.signature !== 'string') return 'signature: expected a string or null';
  return null;
}

function isInt32(n: unknown): boolean {
  return typeof n === 'number' && Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31;
}
