// The watermark store seam: a slot, its mark, and what every backend (SQLite, Redis, …) implements.
// Adding a backend is one file implementing WatermarkBackend and one case in open-watermark-store.ts;
// test/integration/tezos/watermark-store.test.ts runs the same rule table against each backend.
import type { ConsensusKind } from '../signing/sign-request.js';

/** One watermark slot: a key signs for one chain and one consensus kind. */
export interface Slot {
  chainId: string;
  pkh: string;
  kind: ConsensusKind;
}

/** What a request asks to reserve: its (level, round) and the digest of its bytes. */
export interface RequestedMark {
  level: number;
  round: number;
  /** Hex blake2b-256 of the full signed bytes (octez stores the same hash); "" for a mark set by hand. */
  digest: string;
}

/** What is stored per slot: the highest mark reserved and, once made, its signature. */
export interface Mark extends RequestedMark {
  /** b58 signature; null while signing is in progress, or forever if the signer died in between. */
  signature: string | null;
}

export interface MarkEntry extends Slot, Mark {}

/** Outcome of an atomic reserve (the rule is `decide` in watermark-rule.ts). */
export type ReserveOutcome =
  | { kind: 'reserved' }
  /** Same (level, round) and same bytes: the stored signature (null: reserved but not yet recorded). */
  | { kind: 'same'; signature: string | null }
  | { kind: 'rejected'; stored: Mark };

/** What the sign service needs from the marks; the floors (memory-floor.ts, host-floor.ts) wrap it. */
export interface WatermarkStore {
  /** One atomic, durable compare-and-set: advance the slot to `mark` if strictly above, else say why not. */
  reserve(slot: Slot, mark: RequestedMark): Promise<ReserveOutcome>;
  /** Records the signature for the mark reserved earlier, only if that mark is still current and unsigned. */
  recordSignature(slot: Slot, mark: RequestedMark, signature: string): Promise<void>;
  /** Reads the stored mark of one slot (null: never signed). */
  read(slot: Slot): Promise<Mark | null>;
  /** Resolves true once the store answers (Redis connects asynchronously), false after msMax. */
  ready(msMax: number): Promise<boolean>;
  /**
   * Readiness: a write through the path a reserve takes (its lock, its permissions, its durability
   * wait: a synchronous standby, Redis replicas) that marks no slot and leaves nothing behind. A store
   * that answers reads but takes no writes must not look ready while every sign request fails.
   */
  probeWrite(probeId: string): Promise<void>;
  close(): Promise<void>;
}

/** Admin abilities (show, set, export, import); kept apart from the hot path. */
interface WatermarkAdmin {
  list(): Promise<MarkEntry[]>;
  /** Writes a mark. Without `force` it only ever raises a slot; returns false when it would not (equal or lower). */
  put(entry: MarkEntry, force: boolean): Promise<boolean>;
}

/** What each backend implements: the hot path and the admin writes. Any failure is STORE_UNAVAILABLE (fail closed). */
export type WatermarkBackend = WatermarkStore & WatermarkAdmin;
