// The shared watermark store on etcd: one key per slot, <prefix>tezos/wm/<chain>/<pkh>/<kind>, its
// value the mark as JSON. A reserve is one Txn: "if the key's mod_revision is still the one the
// decision was made on, put the new mark; else read it", acknowledged only after a Raft quorum
// committed it. The last revision seen per slot is kept only to guess the compare (one round trip
// in the common case); the Txn decides, and a refusal is always decided on a value read from etcd.
import { ETCD_CAS_ATTEMPTS_MAX, ETCD_RANGE_KEYS_MAX } from '../../../lib/limits.js';
import { prefixEnd, type EtcdKeyValue } from '../../../lib/store/etcd-connection.js';
import type { EtcdStoreClient } from '../../../lib/store/etcd-store-client.js';
import { TEZOS_FLOOR_SLOTS_MAX } from '../tezos-limits.js';
import { decide, lowers } from './watermark-rule.js';
import type { Mark, MarkEntry, RequestedMark, ReserveOutcome, Slot, WatermarkBackend } from './watermark-store.js';

/** The stored value: level, round, digest, signature ('' while unsigned), time of the write. */
interface Stored {
  l: number;
  r: number;
  h: string;
  s: string;
  t: number;
}

/** A slot's value as last seen: the mark (null: no key) and the key's mod_revision (0: no key). */
interface Seen {
  mark: Mark | null;
  modRevision: number;
}

function encode(mark: Mark): Buffer {
  const value: Stored = { l: mark.level, r: mark.round, h: mark.digest, s: mark.signature ?? '', t: Date.now() };
  return Buffer.from(JSON.stringify(value));
}

function seenOf(kv: EtcdKeyValue | null | undefined): Seen {
  if (!kv) return { mark: null, modRevision: 0 };
  const v = JSON.parse(kv.value.toString('utf8')) as Stored;
  return { mark: { level: v.l, round: v.r, digest: v.h, signature: v.s === '' ? null : v.s }, modRevision: kv.modRevision };
}

const sameMark = (a: RequestedMark, b: RequestedMark): boolean => a.level === b.level && a.round === b.round && a.digest === b.digest;

export function createEtcdWatermarkStore(store: EtcdStoreClient): WatermarkBackend {
  const { client } = store;
  const root = `${store.prefix}tezos/wm/`;
  const keyOf = (slot: Slot): Buffer => Buffer.from(`${root}${slot.chainId}/${slot.pkh}/${slot.kind}`);
  // A hint, never a decision: a stale entry only makes the Txn fail and return the current value.
  const lastSeen = new Map<string, Seen>();
  function remember(key: Buffer, seen: Seen): void {
    const name = key.toString('latin1');
    lastSeen.delete(name);
    lastSeen.set(name, seen);
    if (lastSeen.size > TEZOS_FLOOR_SLOTS_MAX) lastSeen.delete(lastSeen.keys().next().value as string);
  }

  async function readSeen(key: Buffer): Promise<Seen> {
    const seen = seenOf((await client.range(key)).kvs[0]);
    remember(key, seen);
    return seen;
  }

  /** Writes `mark` if the slot still has the revision `seen` was read at; else returns the fresh value. */
  async function casPut(key: Buffer, seen: Seen, mark: Mark): Promise<{ done: true } | { done: false; fresh: Seen }> {
    const outcome = await client.compareAndPut({ key, modRevision: seen.modRevision }, encode(mark));
    if (outcome.succeeded) {
      remember(key, { mark, modRevision: outcome.revision });
      return { done: true };
    }
    const fresh = seenOf(outcome.current);
    remember(key, fresh);
    return { done: false, fresh };
  }

  async function reserve(slot: Slot, mark: RequestedMark): Promise<ReserveOutcome> {
    const key = keyOf(slot);
    let seen = lastSeen.get(key.toString('latin1'));
    let fresh = false;
    for (let attempt = 0; attempt < ETCD_CAS_ATTEMPTS_MAX; attempt++) {
      if (!seen) {
        seen = await readSeen(key);
        fresh = true;
      }
      const outcome = decide(seen.mark, mark);
      if (outcome.kind !== 'reserved') {
        // Never refuse (or replay a signature) on the hint: read what etcd holds now.
        if (fresh) return outcome;
        seen = undefined;
        continue;
      }
      const written = await casPut(key, seen, { ...mark, signature: null });
      if (written.done) return { kind: 'reserved' };
      // Read in the same Txn that failed the compare: linearizable, so a refusal may rest on it.
      seen = written.fresh;
      fresh = true;
    }
    throw new Error('the slot kept changing under the reserve');
  }

  async function recordSignature(slot: Slot, mark: RequestedMark, signature: string): Promise<void> {
    const key = keyOf(slot);
    let seen = lastSeen.get(key.toString('latin1')) ?? (await readSeen(key));
    for (let attempt = 0; attempt < ETCD_CAS_ATTEMPTS_MAX; attempt++) {
      // Only onto the reserved mark, while it is current and unsigned.
      if (!seen.mark || !sameMark(seen.mark, mark) || seen.mark.signature !== null) return;
      const written = await casPut(key, seen, { ...mark, signature });
      if (written.done) return;
      seen = written.fresh;
    }
  }

  async function put(entry: MarkEntry, force: boolean): Promise<boolean> {
    const key = keyOf(entry);
    for (let attempt = 0; attempt < ETCD_CAS_ATTEMPTS_MAX; attempt++) {
      const seen = await readSeen(key);
      if (!force && lowers(entry, seen.mark)) return false;
      const written = await casPut(key, seen, { level: entry.level, round: entry.round, digest: entry.digest, signature: entry.signature });
      if (written.done) return true;
    }
    throw new Error('the slot kept changing under the write');
  }

  async function list(): Promise<MarkEntry[]> {
    const entries: MarkEntry[] = [];
    const end = prefixEnd(Buffer.from(root));
    let from = Buffer.from(root);
    for (;;) {
      const page = await client.range(from, { rangeEnd: end, limit: ETCD_RANGE_KEYS_MAX });
      for (const kv of page.kvs) {
        const [chainId, pkh, kind] = kv.key.toString('utf8').slice(root.length).split('/');
        const { mark } = seenOf(kv);
        if (chainId && pkh && kind && mark) entries.push({ chainId, pkh, kind: kind as Slot['kind'], ...mark });
      }
      const last = page.kvs[page.kvs.length - 1];
      if (!page.more || !last) break;
      from = Buffer.concat([last.key, Buffer.from([0])]);
    }
    return entries;
  }

  return {
    reserve: (slot, mark) => store.guard('watermark reserve', () => reserve(slot, mark)),
    recordSignature: (slot, mark, signature) => store.guard('watermark record', () => recordSignature(slot, mark, signature)),
    read: (slot) => store.guard('watermark read', async () => (await readSeen(keyOf(slot))).mark),
    list: () => store.guard('watermark list', list),
    put: (entry, force) => store.guard('watermark write', () => put(entry, force)),
    ready: (msMax) => store.ready(msMax),
    close: () => store.close(),
  };
}
