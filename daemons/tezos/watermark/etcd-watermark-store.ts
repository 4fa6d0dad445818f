// The shared watermark store on etcd: per slot a mark key, <prefix>tezos/wm/<chain>/<pkh>/<kind>
// (the mark as JSON), and beside it <mark key>/signature (the signature made for that mark). A
// reserve is one Txn: "if the mark key's mod_revision is still the one the decision was made on,
// put the new mark; else read it", acknowledged only after a Raft quorum committed it. The last
// revision seen per slot is kept only to guess the compare (one round trip in the common case); the
// Txn decides, and a refusal is always decided on a value read from etcd. The signature has its own
// key so that recording it (after the reply has left) never moves the mark key's revision under the
// next request's reserve.
import { ETCD_CAS_ATTEMPTS_MAX, ETCD_RANGE_KEYS_MAX } from '../../../lib/limits.js';
import { prefixEnd, type EtcdKeyValue } from '../../../lib/store/etcd-connection.js';
import type { EtcdStoreClient } from '../../../lib/store/etcd-store-client.js';
import { TEZOS_ETCD_RECORD_DELAY_MS, TEZOS_FLOOR_SLOTS_MAX } from '../tezos-limits.js';
import { decide, lowers, raises } from './watermark-rule.js';
import type { Mark, MarkEntry, RequestedMark, ReserveOutcome, Slot, WatermarkBackend } from './watermark-store.js';

/** The stored value: level, round, digest, signature ('' while unsigned), time of the write. */
interface Stored {
  l: number;
  r: number;
  h: string;
  s: string;
  t: number;
}

/** Suffix of the signature key beside a mark key. */
const SIGNATURE_SUFFIX = '/signature';

/** A slot's value as last seen: the mark (null: no key) and the key's mod_revision (0: no key). */
interface Seen {
  mark: Mark | null;
  modRevision: number;
}

function encode(mark: Mark): Buffer {
  const value: Stored = { l: mark.level, r: mark.round, h: mark.digest, s: mark.signature ?? '', t: Date.now() };
  return Buffer.from(JSON.stringify(value));
}

/**
 * A slot as read: its mark key and, when given, its signature key. A signature counts only if it was
 * made for the very mark stored (same level, round and digest); one for an older mark is ignored.
 */
function seenOf(kv: EtcdKeyValue | null | undefined, signatureKv?: EtcdKeyValue): Seen {
  if (!kv) return { mark: null, modRevision: 0 };
  const v = JSON.parse(kv.value.toString('utf8')) as Stored;
  let signature = v.s === '' ? null : v.s;
  if (signature === null && signatureKv) {
    const sig = JSON.parse(signatureKv.value.toString('utf8')) as Stored;
    if (sig.l === v.l && sig.r === v.r && sig.h === v.h && sig.s !== '') signature = sig.s;
  }
  return { mark: { level: v.l, round: v.r, digest: v.h, signature }, modRevision: kv.modRevision };
}

const isSignatureKey = (key: Buffer): boolean => key.toString('latin1').endsWith(SIGNATURE_SUFFIX);

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

  const signatureKeyOf = (key: Buffer): Buffer => Buffer.concat([key, Buffer.from(SIGNATURE_SUFFIX)]);

  /** The mark and its signature in one linearizable range: the mark key and <mark key>/signature. */
  async function readSeen(key: Buffer): Promise<Seen> {
    const { kvs } = await client.range(key, { rangeEnd: prefixEnd(key) });
    const seen = seenOf(
      kvs.find((kv) => kv.key.equals(key)),
      kvs.find((kv) => isSignatureKey(kv.key)),
    );
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
    await new Promise((resolve) => setTimeout(resolve, TEZOS_ETCD_RECORD_DELAY_MS));
    const hint = lastSeen.get(key.toString('latin1'));
    // Superseded meanwhile (this process reserved a higher mark): nothing could replay it.
    if (hint && lowers(mark, hint.mark)) return;
    let seen = hint ?? (await readSeen(key));
    for (let attempt = 0; attempt < ETCD_CAS_ATTEMPTS_MAX; attempt++) {
      // Only for the reserved mark, while it is current and unsigned: the Txn compares the mark
      // key's revision and writes the signature key, leaving the mark key as it is.
      if (!seen.mark || !sameMark(seen.mark, mark) || seen.mark.signature !== null) return;
      const outcome = await client.compareAndPut({ key, modRevision: seen.modRevision }, encode({ ...mark, signature }), signatureKeyOf(key));
      if (outcome.succeeded) {
        remember(key, { mark: { ...mark, signature }, modRevision: seen.modRevision });
        return;
      }
      seen = seenOf(outcome.current);
      remember(key, seen);
    }
  }

  async function put(entry: MarkEntry, force: boolean): Promise<boolean> {
    const key = keyOf(entry);
    for (let attempt = 0; attempt < ETCD_CAS_ATTEMPTS_MAX; attempt++) {
      const seen = await readSeen(key);
      if (!force && !raises(entry, seen.mark)) return false;
      // The signature (if any) goes in the mark's own value: an admin write is one Txn, and a
      // signature key left from an older mark no longer matches it.
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
      // A signature key sorts right after its mark key; one cut off by the page end is read with its mark.
      for (const [i, kv] of page.kvs.entries()) {
        if (isSignatureKey(kv.key)) continue;
        const [chainId, pkh, kind] = kv.key.toString('utf8').slice(root.length).split('/');
        const next = page.kvs[i + 1];
        const { mark } = next === undefined && page.more ? await readSeen(kv.key) : seenOf(kv, next && isSignatureKey(next.key) ? next : undefined);
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
    probeWrite: (probeId) => store.probeWrite(probeId),
    close: () => store.close(),
  };
}
