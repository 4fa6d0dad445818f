// What a floor (memory-floor.ts, host-floor.ts) answers when it holds the very mark requested (same
// level, round and bytes) and the shared store below it answers as if it had lost it.
import type { RequestedMark, ReserveOutcome, Slot, WatermarkStore } from './watermark-store.js';

/**
 * The floor's `same` stands when the store reserved the mark anew (it had lost it) or knows it without
 * its signature (it lost the mark and an earlier retry reserved it again): the identical request gets
 * the floor's signature, never a second one. The signature is written back, so the store's own
 * answer carries it from then on, for this host's later retries and for the other hosts. The write
 * back may fail (the store away again): the next retry tries again. Null: the store's answer stands.
 */
export async function floorAnswer(
  shared: WatermarkStore,
  slot: Slot,
  mark: RequestedMark,
  floor: ReserveOutcome,
  stored: ReserveOutcome,
): Promise<ReserveOutcome | null> {
  if (floor.kind !== 'same') return null;
  if (stored.kind !== 'reserved' && !(stored.kind === 'same' && stored.signature === null)) return null;
  if (floor.signature !== null) await shared.recordSignature(slot, mark, floor.signature).catch(() => undefined);
  return floor;
}
