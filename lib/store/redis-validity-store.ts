// The Redis validity store. One hash per signature under `<prefix>sig:{<hex>}`, so
// `redis-cli DEL` revokes and `EXPIRE` expires, exactly as operators of the seed expect.
// Admin revocation renames the hash to `<prefix>revoked:{<hex>}` (same Cluster slot) so it can be reinstated.
import { storeUnavailable, type RedisClient } from './redis-connection.js';
import { readyAndDurable, type DurabilityGate } from './redis-durability.js';
import type { RecordStatus, SignatureRecord, ValidityAdmin, ValidityStore } from './validity-store.js';

export interface RedisStoreOptions {
  prefix: string;
  /** After a revoke or reinstate, wait for this many replicas to acknowledge (0: do not wait). */
  waitReplicas: number;
  waitTimeoutMs: number;
  /** Nothing is read or written before the server's persistence passed (fail closed). */
  durability: DurabilityGate;
}

const MOVE_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('RENAME', KEYS[1], KEYS[2])
  if ARGV[1] ~= '' then redis.call('PEXPIREAT', KEYS[2], ARGV[1]) end
  return 1
end
return 0`;

/** Writes the live record unless the signature has one, live or revoked (both keys share a Cluster slot). */
const RESTORE_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'm', ARGV[1], 'k', ARGV[2], 'a', ARGV[3], 'c', ARGV[4])
if ARGV[5] ~= '' then redis.call('PEXPIREAT', KEYS[1], ARGV[5]) end
return 1`;

function liveKey(prefix: string, signature: string): string {
  return `${prefix}sig:{${signature}}`;
}

function revokedKey(prefix: string, signature: string): string {
  return `${prefix}revoked:{${signature}}`;
}

export function createRedisValidityStore(client: RedisClient, opts: RedisStoreOptions): ValidityStore & ValidityAdmin {
  async function read(key: string): Promise<SignatureRecord | null> {
    const [fields, pttl] = await Promise.all([client.hgetallBuffer(key), client.pttl(key)]);
    const message = fields['m'];
    if (!message) return null;
    const signature = /\{([0-9a-f]+)\}$/.exec(key)?.[1] ?? '';
    return {
      signature,
      message,
      keyId: fields['k']?.toString('utf8') ?? '',
      algorithm: fields['a']?.toString('utf8') ?? '',
      createdMs: Number(fields['c']?.toString('utf8') ?? 0),
      expiresMs: pttl > 0 ? Date.now() + pttl : null,
    };
  }

  async function write(record: SignatureRecord): Promise<void> {
    const key = liveKey(opts.prefix, record.signature);
    const tx = client.multi().hset(key, {
      m: record.message,
      k: record.keyId,
      a: record.algorithm,
      c: String(record.createdMs),
    });
    if (record.expiresMs !== null) tx.pexpireat(key, record.expiresMs);
    else tx.persist(key);
    const results = await tx.exec();
    const failed = results?.find(([err]) => err);
    if (!results || failed) throw failed?.[0] ?? new Error('transaction aborted');
  }

  /** Renames `from` to `to`; `expiresAtMs` (epoch ms, or '' to keep the key's expiry) sets its expiry. */
  async function move(from: string, to: string, expiresAtMs: string): Promise<boolean> {
    const moved = (await client.eval(MOVE_SCRIPT, 2, from, to, expiresAtMs)) === 1;
    if (moved && opts.waitReplicas > 0 && 'wait' in client) {
      // A lost revocation fails open, so confirm replication before reporting success.
      const acked = await client.wait(opts.waitReplicas, opts.waitTimeoutMs);
      if (acked < opts.waitReplicas) throw new Error(`only ${acked} of ${opts.waitReplicas} replicas acknowledged`);
    }
    return moved;
  }

  const guard = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      if (!opts.durability.passed) await opts.durability.checkForRequest();
      return await fn();
    } catch (err) {
      throw storeUnavailable(what, err);
    }
  };

  return {
    ready: (msMax) => readyAndDurable(client, opts.durability, msMax),
    put: (record) => guard('write', () => write(record)),
    getLive: (signature) => guard('read', () => read(liveKey(opts.prefix, signature))),
    inspect: (signature) =>
      guard('read', async () => {
        const live = await read(liveKey(opts.prefix, signature));
        if (live) return { status: 'valid' as RecordStatus, record: live };
        const revoked = await read(revokedKey(opts.prefix, signature));
        // Expired records are deleted by Redis itself, so they read as unknown.
        return { status: (revoked ? 'revoked' : 'unknown') as RecordStatus, record: revoked };
      }),
    revoke: (signature) => guard('revoke', () => move(liveKey(opts.prefix, signature), revokedKey(opts.prefix, signature), '')),
    reinstate: (signature, expiresMs) =>
      guard('reinstate', () => move(revokedKey(opts.prefix, signature), liveKey(opts.prefix, signature), expiresMs === null ? '' : String(expiresMs))),
    restore: (r) =>
      guard(
        'restore',
        async () =>
          (await client.eval(
            RESTORE_SCRIPT,
            2,
            liveKey(opts.prefix, r.signature),
            revokedKey(opts.prefix, r.signature),
            r.message,
            r.keyId,
            r.algorithm,
            String(r.createdMs),
            r.expiresMs === null ? '' : String(r.expiresMs),
          )) === 1,
      ),
    describeDurability: () =>
      opts.waitReplicas > 0
        ? `redis primary and ${opts.waitReplicas} replica(s) acknowledged (WAIT; replication is asynchronous, a failover can still lose it)`
        : 'redis primary acknowledged (appendfsync checked at start; a failover to a replica can lose it)',
    close: async () => {
      client.disconnect();
    },
  };
}
