// The high-watermark rule that keeps a baker from double signing, as pure functions: the order of
// marks, the decision for a request, and the refusal text. Backends apply it inside their compare-and-set.
import { blake2b } from '@noble/hashes/blake2.js';
import type { Mark, RequestedMark, ReserveOutcome, Slot } from './watermark-store.js';

export function payloadDigest(payload: Uint8Array): string {
  return Buffer.from(blake2b(payload, { dkLen: 32 })).toString('hex');
}

/** Lexicographic order on (level, round): negative, zero or positive. */
function compareMarks(a: RequestedMark, b: RequestedMark): number {
  return a.level !== b.level ? a.level - b.level : a.round - b.round;
}

/** The rule: strictly above → reserve; equal with the same bytes → same; anything else → rejected. */
export function decide(stored: Mark | null, request: RequestedMark): ReserveOutcome {
  if (stored === null) return { kind: 'reserved' };
  const order = compareMarks(request, stored);
  if (order > 0) return { kind: 'reserved' };
  if (order === 0 && request.digest === stored.digest) return { kind: 'same', signature: stored.signature };
  return { kind: 'rejected', stored };
}

/** Whether `mark` is below the stored one (a superseded mark). */
export function lowers(mark: RequestedMark, stored: Mark | null): boolean {
  return stored !== null && compareMarks(mark, stored) < 0;
}

/**
 * Whether an admin write of `entry` raises the slot, the only write made without --force. An equal
 * (level, round) is not a raise: replacing it would drop the stored digest and signature, and the
 * baker's identical retry would then get 409 instead of its signature.
 */
export function raises(entry: RequestedMark, stored: Mark | null): boolean {
  return stored === null || compareMarks(entry, stored) > 0;
}

/**
 * The 409 / ERR WATERMARK_REJECTED text: octez's own words (so a baker's operator reads what
 * octez-signer would have said), then both marks and the slot, which octez leaves out.
 */
export function rejectionMessage(slot: Slot, request: RequestedMark, stored: Mark): string {
  const where = ` (requested ${request.level}/${request.round}, high watermark ${stored.level}/${stored.round}, ${slot.pkh} on ${slot.chainId})`;
  if (request.level < stored.level) return `${slot.kind} level ${request.level} below high watermark ${stored.level}${where}`;
  if (compareMarks(request, stored) < 0) {
    return `${slot.kind} level ${request.level} and round ${request.round} not above high watermark (${stored.level},${stored.round})${where}`;
  }
  return `${slot.kind} level ${request.level} and round ${request.round} already signed with different data${where}`;
}
