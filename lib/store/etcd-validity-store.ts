// The etcd validity store: one key per signature, <prefix>sig/<hex>, holding the record as JSON
// (docs/stores.md). Reads are linearizable, so a verify after an acknowledged revoke never sees the
// record live; revoke and reinstate are one Txn each, conditioned on the mod_revision they read,
// acknowledged after the Raft quorum committed them.
import { ETCD_CAS_ATTEMPTS_MAX } from '../limits.js';
import type { EtcdKeyValue } from './etcd-connection.js';
import type { EtcdStoreClient } from './etcd-store-client.js';
import type { RecordStatus, SignatureRecord, ValidityAdmin, ValidityStore } from './validity-store.js';

/** The stored value: message base64, key id, algorithm, created, expires, revoked (ms or null). */
interface Stored {
  m: string;
  k: string;
  a: string;
  c: number;
  e: number | null;
  r: number | null;
}

function encode(record: SignatureRecord, revokedMs: number | null): Buffer {
  const value: Stored = {
    m: record.message.toString('base64'),
    k: record.keyId,
    a: record.algorithm,
    c: record.createdMs,
    e: record.expiresMs,
    r: revokedMs,
  };
  return Buffer.from(JSON.stringify(value));
}

function decode(signature: string, kv: EtcdKeyValue): { record: SignatureRecord; revokedMs: number | null } {
  const v = JSON.parse(kv.value.toString('utf8')) as Stored;
  return {
    record: { signature, message: Buffer.from(v.m, 'base64'), keyId: v.k, algorithm: v.a, createdMs: v.c, expiresMs: v.e },
    revokedMs: v.r,
  };
}

function statusOf(found: { record: SignatureRecord; revokedMs: number | null } | null, now: number): RecordStatus {
  if (!found) return 'unknown';
  // Expiry first: a revoked record past its expiry is over, as on Redis, where it is gone.
  if (found.record.expiresMs !== null && found.record.expiresMs <= now) return 'expired';
  if (found.revokedMs !== null) return 'revoked';
  return 'valid';
}

export function createEtcdValidityStore(store: EtcdStoreClient): ValidityStore & ValidityAdmin {
  const { client } = store;
  const keyOf = (signature: string): Buffer => Buffer.from(`${store.prefix}sig/${signature}`);

  async function read(signature: string): Promise<{ kv: EtcdKeyValue; found: ReturnType<typeof decode> } | null> {
    const kv = (await client.range(keyOf(signature))).kvs[0];
    return kv ? { kv, found: decode(signature, kv) } : null;
  }

  /** Applies `change` to the record if `applies` holds, as a Txn on the mod_revision read; retried when another writer came between. */
  async function update(signature: string, applies: (status: RecordStatus) => boolean, change: (found: ReturnType<typeof decode>) => Buffer): Promise<boolean> {
    for (let attempt = 0; attempt < ETCD_CAS_ATTEMPTS_MAX; attempt++) {
      const current = await read(signature);
      if (!current || !applies(statusOf(current.found, Date.now()))) return false;
      const outcome = await client.compareAndPut({ key: current.kv.key, modRevision: current.kv.modRevision }, change(current.found));
      if (outcome.succeeded) return true;
    }
    throw new Error('the record kept changing under the update');
  }

  return {
    ready: (msMax) => store.ready(msMax),
    probeWrite: (probeId) => store.probeWrite(probeId),
    put: (r) => store.guard('write', () => client.put(keyOf(r.signature), encode(r, null))),
    getLive: (signature) =>
      store.guard('read', async () => {
        const current = await read(signature);
        return current && statusOf(current.found, Date.now()) === 'valid' ? current.found.record : null;
      }),
    inspect: (signature) =>
      store.guard('read', async () => {
        const current = await read(signature);
        return { status: statusOf(current?.found ?? null, Date.now()), record: current?.found.record ?? null };
      }),
    revoke: (signature) =>
      store.guard('revoke', () =>
        update(
          signature,
          (status) => status === 'valid',
          (found) => encode(found.record, Date.now()),
        ),
      ),
    reinstate: (signature, expiresMs) =>
      store.guard('reinstate', () =>
        update(
          signature,
          (status) => status === 'revoked',
          (found) => encode({ ...found.record, expiresMs: expiresMs ?? found.record.expiresMs }, null),
        ),
      ),
    // mod_revision 0: the key does not exist (etcd's create-if-absent).
    restore: (r) => store.guard('restore', async () => (await client.compareAndPut({ key: keyOf(r.signature), modRevision: 0 }, encode(r, null))).succeeded),
    describeDurability: () => 'etcd quorum commit (a majority of members wrote it to their Raft log)',
    close: () => store.close(),
  };
}
