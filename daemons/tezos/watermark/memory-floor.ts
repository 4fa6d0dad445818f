// An in-process floor in front of the shared store: the highest mark this process reserved per
// slot. If the store forgets marks while we run (a Redis restart without persistence, a failover
// to a replica that missed writes), we still never sign at or below what this process signed.
import { TEZOS_FLOOR_SLOTS_MAX } from '../tezos-limits.js';
import { floorAnswer } from './floor-answer.js';
import { decide } from './watermark-rule.js';
import type { Mark, ReserveOutcome, Slot, WatermarkStore } from './watermark-store.js';

export function withMemoryFloor(store: WatermarkStore): WatermarkStore {
  const floor = new Map<string, Mark>();
  const keyOf = (slot: Slot): string => `${slot.chainId}\0${slot.pkh}\0${slot.kind}`;

  function remember(key: string, mark: Mark): void {
    floor.delete(key);
    floor.set(key, mark);
    if (floor.size > TEZOS_FLOOR_SLOTS_MAX) floor.delete(floor.keys().next().value as string);
  }

  return {
    async reserve(slot, mark): Promise<ReserveOutcome> {
      const key = keyOf(slot);
      const local = floor.get(key) ?? null;
      const localOutcome = decide(local, mark);
      if (localOutcome.kind === 'rejected') return localOutcome;
      const outcome = await store.reserve(slot, mark);
      // The store took, or holds unsigned, bytes this process already holds a mark for: it lost the
      // mark. Answer from memory rather than signing the same slot a second time.
      const fromFloor = await floorAnswer(store, slot, mark, localOutcome, outcome);
      if (fromFloor) return fromFloor;
      if (outcome.kind === 'reserved') remember(key, { ...mark, signature: null });
      return outcome;
    },
    async recordSignature(slot, mark, signature) {
      const local = floor.get(keyOf(slot));
      if (local && local.level === mark.level && local.round === mark.round && local.digest === mark.digest && local.signature === null)
        local.signature = signature;
      await store.recordSignature(slot, mark, signature);
    },
    read: (slot) => store.read(slot),
    ready: (msMax) => store.ready(msMax),
    probeWrite: (probeId) => store.probeWrite(probeId),
    close: () => store.close(),
  };
}
