// A durable per-host floor under Redis (`--redis-local-floor`): every mark this host reserves in Redis is
// also reserved in the local SQLite file (fsynced) before signing, so a Redis that loses marks can never
// make this host sign a slot again, even after a restart. Other hosts are not covered.
import { floorAnswer } from './floor-answer.js';
import { decide } from './watermark-rule.js';
import type { ReserveOutcome, WatermarkStore } from './watermark-store.js';

export function withHostFloor(shared: WatermarkStore, local: WatermarkStore): WatermarkStore {
  return {
    async reserve(slot, mark): Promise<ReserveOutcome> {
      const floor = await local.read(slot);
      const before = decide(floor, mark);
      if (before.kind === 'rejected') return before;
      const outcome = await shared.reserve(slot, mark);
      // Redis took, or holds unsigned, bytes this host already holds a mark for: Redis lost it. Answer from the floor.
      const fromFloor = await floorAnswer(shared, slot, mark, before, outcome);
      if (fromFloor) return fromFloor;
      if (outcome.kind !== 'reserved') return outcome;
      // The local reserve is the compare-and-set that decides for this host; only then may we sign.
      const hostOutcome = await local.reserve(slot, mark);
      return hostOutcome.kind === 'reserved' ? outcome : hostOutcome;
    },
    async recordSignature(slot, mark, signature) {
      await local.recordSignature(slot, mark, signature);
      await shared.recordSignature(slot, mark, signature);
    },
    read: (slot) => shared.read(slot),
    ready: async (msMax) => (await local.ready(msMax)) && shared.ready(msMax),
    probeWrite: async (probeId) => {
      await local.probeWrite(probeId);
      await shared.probeWrite(probeId);
    },
    close: async () => {
      await shared.close();
      await local.close();
    },
  };
}
