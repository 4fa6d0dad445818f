// The shared watermark store on Redis: one hash per slot, advanced by one Lua compare-and-set
// (atomic on the primary), optionally followed by WAIT so replicas hold the mark before we sign.
// What this can and cannot promise after a failover is in docs/tezos.md.
import { Cluster, type Redis } from 'ioredis';
import { DaemonError } from '../../../lib/errors.js';
import { storeUnavailable, type RedisClient } from '../../../lib/store/redis-connection.js';
import { readyAndDurable, type DurabilityGate } from '../../../lib/store/redis-durability.js';
import { CONSENSUS_KINDS } from '../signing/sign-request.js';
import type { Mark, MarkEntry, RequestedMark, ReserveOutcome, Slot, WatermarkBackend } from './watermark-store.js';

export interface RedisWatermarkOptions {
  prefix: string;
  /** After each reserve, require this many replica acknowledgements (0: do not wait). */
  waitReplicas: number;
  waitTimeoutMs: number;
  /** No mark is read or reserved before the server's persistence passed (fail closed). */
  durability: DurabilityGate;
}

// KEYS[1] slot hash; ARGV level, round, digest. Same order and rule as decide() in watermark-rule.ts.
const RESERVE_LUA = `
local cur = redis.call('HMGET', KEYS[1], 'l', 'r', 'h', 's')
local L = tonumber(ARGV[1])
local R = tonumber(ARGV[2])
if cur[1] then
  local l0 = tonumber(cur[1])
  local r0 = tonumber(cur[2])
  if L < l0 or (L == l0 and R <= r0) then
    if L == l0 and R == r0 and ARGV[3] == cur[3] then return {'same', cur[4] or ''} end
    return {'rejected', cur[1], cur[2], cur[3] or '', cur[4] or ''}
  end
end
redis.call('HSET', KEYS[1], 'l', ARGV[1], 'r', ARGV[2], 'h', ARGV[3], 's', '', 't', ARGV[4])
return {'reserved'}`;

// Records the signature only while the reserved mark is still current and unsigned.
const RECORD_LUA = `
local cur = redis.call('HMGET', KEYS[1], 'l', 'r', 'h', 's')
if cur[1] == ARGV[1] and cur[2] == ARGV[2] and cur[3] == ARGV[3] and (cur[4] == false or cur[4] == '') then
  redis.call('HSET', KEYS[1], 's', ARGV[4])
  return 1
end
return 0`;

// Admin write: raise only (raises() in watermark-rule.ts), unless ARGV[6] is '1' (force).
const PUT_LUA = `
local cur = redis.call('HMGET', KEYS[1], 'l', 'r')
if ARGV[6] ~= '1' and cur[1] then
  local l0 = tonumber(cur[1])
  local r0 = tonumber(cur[2])
  local L = tonumber(ARGV[1])
  if L < l0 or (L == l0 and tonumber(ARGV[2]) <= r0) then return 0 end
end
redis.call('HSET', KEYS[1], 'l', ARGV[1], 'r', ARGV[2], 'h', ARGV[3], 's', ARGV[4], 't', ARGV[5])
return 1`;

type ScriptClient = RedisClient & {
  tezosReserve(key: string, level: string, round: string, digest: string, nowMs: string): Promise<string[]>;
  tezosRecord(key: string, level: string, round: string, digest: string, signature: string): Promise<number>;
  tezosPut(key: string, level: string, round: string, digest: string, signature: string, nowMs: string, force: string): Promise<number>;
};

/** A readiness probe's key expires this long after its write. */
const PROBE_KEY_MS = 60_000;

function slotKey(prefix: string, slot: Slot): string {
  // The hash tag keeps one key's three kinds in one Cluster slot.
  return `${prefix}tezos:wm:{${slot.chainId}:${slot.pkh}}:${slot.kind}`;
}

export function createRedisWatermarkStore(client: RedisClient, opts: RedisWatermarkOptions): WatermarkBackend {
  // WAIT acknowledges one connection's writes on one node; a Cluster client has no such connection.
  if (opts.waitReplicas > 0 && client instanceof Cluster) {
    throw new DaemonError('CONFIG_INVALID', '--redis-wait-replicas is not supported with --redis-cluster for the tezos watermark');
  }
  client.defineCommand('tezosReserve', { numberOfKeys: 1, lua: RESERVE_LUA });
  client.defineCommand('tezosRecord', { numberOfKeys: 1, lua: RECORD_LUA });
  client.defineCommand('tezosPut', { numberOfKeys: 1, lua: PUT_LUA });
  const scripts = client as ScriptClient;

  async function waitForReplicas(): Promise<void> {
    if (opts.waitReplicas === 0) return;
    const acked = await (client as Redis).wait(opts.waitReplicas, opts.waitTimeoutMs);
    // Fail closed: the mark stays reserved (that slot is lost), but nothing is signed on a mark
    // that a failover could forget.
    if (acked < opts.waitReplicas) throw new Error(`only ${acked} of ${opts.waitReplicas} replicas acknowledged the watermark`);
  }

  async function reserve(slot: Slot, mark: RequestedMark): Promise<ReserveOutcome> {
    const reply = await scripts.tezosReserve(slotKey(opts.prefix, slot), String(mark.level), String(mark.round), mark.digest, String(Date.now()));
    if (reply[0] === 'reserved') {
      await waitForReplicas();
      return { kind: 'reserved' };
    }
    if (reply[0] === 'same') return { kind: 'same', signature: reply[1] ? reply[1] : null };
    return { kind: 'rejected', stored: { level: Number(reply[1]), round: Number(reply[2]), digest: reply[3] ?? '', signature: reply[4] ? reply[4] : null } };
  }

  async function read(slot: Slot): Promise<Mark | null> {
    const fields = await client.hgetall(slotKey(opts.prefix, slot));
    return fields['l'] === undefined ? null : toMark(fields);
  }

  async function list(): Promise<MarkEntry[]> {
    const nodes: Redis[] = client instanceof Cluster ? client.nodes('master') : [client];
    const entries: MarkEntry[] = [];
    const pattern = new RegExp(`tezos:wm:\\{(Net[^:]+):([^}]+)\\}:(${CONSENSUS_KINDS.join('|')})$`);
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', `${opts.prefix}tezos:wm:*`, 'COUNT', 500);
        cursor = next;
        for (const key of keys) {
          const match = pattern.exec(key);
          if (!match || !key.startsWith(opts.prefix)) continue;
          const fields = await client.hgetall(key);
          if (fields['l'] === undefined) continue;
          entries.push({ chainId: match[1]!, pkh: match[2]!, kind: match[3] as Slot['kind'], ...toMark(fields) });
        }
      } while (cursor !== '0');
    }
    return entries.sort((a, b) => `${a.chainId}${a.pkh}${a.kind}`.localeCompare(`${b.chainId}${b.pkh}${b.kind}`));
  }

  const guard = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      if (!opts.durability.passed) await opts.durability.checkForRequest();
      return await fn();
    } catch (err) {
      throw storeUnavailable(`watermark ${what}`, err);
    }
  };

  return {
    reserve: (slot, mark) => guard('reserve', () => reserve(slot, mark)),
    recordSignature: (slot, mark, signature) =>
      guard('record', async () => void (await scripts.tezosRecord(slotKey(opts.prefix, slot), String(mark.level), String(mark.round), mark.digest, signature))),
    read: (slot) => guard('read', () => read(slot)),
    list: () => guard('list', list),
    put: (entry, force) =>
      guard('write', async () => {
        const done = await scripts.tezosPut(
          slotKey(opts.prefix, entry),
          String(entry.level),
          String(entry.round),
          entry.digest,
          entry.signature ?? '',
          String(Date.now()),
          force ? '1' : '0',
        );
        if (done === 1) await waitForReplicas();
        return done === 1;
      }),
    ready: (msMax) => readyAndDurable(client, opts.durability, msMax),
    // A key beside the marks (same ACL key pattern), expiring by itself, and the replicas' WAIT a reserve waits for.
    probeWrite: (probeId) =>
      guard('probe', async () => {
        await client.set(`${opts.prefix}tezos:probe:{${probeId}}`, '1', 'PX', PROBE_KEY_MS);
        await waitForReplicas();
      }),
    close: async () => {
      client.disconnect();
    },
  };
}

function toMark(fields: Record<string, string>): Mark {
  return { level: Number(fields['l']), round: Number(fields['r']), digest: fields['h'] ?? '', signature: fields['s'] ? fields['s'] : null };
}
