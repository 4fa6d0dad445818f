// Before a Redis store is trusted: does a write Redis acknowledged survive a Redis restart? Only with
// AOF and appendfsync always (read with CONFIG GET and INFO persistence on every primary), unless
// durable writes wait for replicas (--redis-wait-replicas) or the operator accepts the loss (--redis-allow-volatile).
import { Cluster, ReplyError, type Redis } from 'ioredis';
import { DaemonError } from '../errors.js';
import { waitForReady, type RedisClient } from './redis-connection.js';

export interface DurabilityPolicy {
  /** Revocations and watermark reserves wait for this many replica acknowledgements (0: none). */
  waitReplicas: number;
  /** Serve on a Redis that can lose acknowledged writes; warned about at every check. */
  allowVolatile: boolean;
}

/** Where the check's warnings go; a pino logger fits, admin commands write to stderr. */
export interface DurabilityLog {
  warn(fields: Record<string, unknown>, msg: string): void;
}

export interface DurabilityGate {
  /** True once the server this connection reached has passed, for PASSED_RECHECK_MS (reset when the connection is re-established). */
  readonly passed: boolean;
  /**
   * Resolves once the server passed; rejects with CONFIG_INVALID naming the setting when it can lose
   * an acknowledged write, or with the Redis error when it did not answer. For start-up, whose caller
   * reports the refusal (exit 78).
   */
  check(): Promise<void>;
  /** The same for a request: a refusal is logged (once per check) and rejects with a short reason. */
  checkForRequest(): Promise<void>;
}

/**
 * A refused check is not repeated for this long: requests meanwhile fail at once (fail closed), the
 * log gets one line per period, and a server fixed with CONFIG SET is accepted without a restart.
 */
const REFUSED_RECHECK_MS = 5_000;
/**
 * A server that passed is checked again after this long, on the next request: a `CONFIG SET
 * appendfsync everysec` on a running server, or AOF writes failing on a full disk, would otherwise go
 * unseen until the connection was re-established.
 */
const PASSED_RECHECK_MS = 5_000;

const FIX =
  'set appendonly yes and appendfsync always (docs/signature-daemons.md), or pass --redis-wait-replicas <n> (replicas acknowledge every revocation and watermark) or --redis-allow-volatile';

export function durabilityGate(client: RedisClient, policy: DurabilityPolicy, log: DurabilityLog): DurabilityGate {
  let passed = false;
  let passedAtMs = 0;
  // A reconnect may reach another server (a Sentinel failover): it is checked again before use.
  let generation = 0;
  let inFlight: Promise<void> | null = null;
  let refused: { error: DaemonError; atMs: number } | null = null;
  client.on('ready', () => {
    generation++;
    passed = false;
  });

  async function run(): Promise<void> {
    const checked = generation;
    const problems = await persistenceProblems(client);
    if (problems.length > 0 && policy.waitReplicas === 0 && !policy.allowVolatile) {
      const error = new DaemonError('CONFIG_INVALID', `redis may lose a write it acknowledged (a revocation, a watermark): ${problems.join('; ')}; ${FIX}`);
      refused = { error, atMs: Date.now() };
      passed = false;
      throw error;
    }
    if (policy.allowVolatile) {
      log.warn(
        { redisPersistence: problems.length > 0 ? problems : 'appendonly yes, appendfsync always' },
        '--redis-allow-volatile: persistence is not enforced; a revocation or watermark Redis acknowledged can be undone by a Redis restart',
      );
    } else if (problems.length > 0) {
      log.warn(
        { redisPersistence: problems, waitReplicas: policy.waitReplicas },
        'redis persistence does not pass the check; revocations and watermarks rely on --redis-wait-replicas',
      );
    }
    refused = null;
    if (checked === generation) {
      passed = true;
      passedAtMs = Date.now();
    }
  }

  function check(): Promise<void> {
    if (passed && Date.now() - passedAtMs < PASSED_RECHECK_MS) return Promise.resolve();
    if (refused && Date.now() - refused.atMs < REFUSED_RECHECK_MS) return Promise.reject(refused.error);
    inFlight ??= run().finally(() => {
      inFlight = null;
    });
    return inFlight;
  }

  let logged: DaemonError | null = null;
  return {
    get passed() {
      return passed && Date.now() - passedAtMs < PASSED_RECHECK_MS;
    },
    check,
    async checkForRequest() {
      try {
        await check();
      } catch (err) {
        if (!(err instanceof DaemonError)) throw err;
        if (logged !== err) log.warn({ err: err.message }, 'redis persistence check refused this server; answering STORE_UNAVAILABLE');
        logged = err;
        throw new Error('persistence check refused this server; see the log', { cause: err });
      }
    },
  };
}

/**
 * What on each primary can lose an acknowledged write, each naming the setting; empty when none.
 * Connection failures are thrown (the caller retries); a refused CONFIG or INFO is a finding.
 */
async function persistenceProblems(client: RedisClient): Promise<string[]> {
  const nodes: Redis[] = client instanceof Cluster ? client.nodes('master') : [client];
  if (nodes.length === 0) return ['no cluster primary is known yet'];
  const found: string[] = [];
  for (const node of nodes) {
    const where = nodes.length > 1 ? ` on ${node.options.host}:${node.options.port}` : '';
    for (const problem of await nodeProblems(node)) found.push(problem + where);
  }
  return found;
}

async function nodeProblems(node: Redis): Promise<string[]> {
  const config = await refusedAsNull(() => node.config('GET', 'append*') as Promise<string[]>);
  const info = await refusedAsNull(() => node.info('persistence'));
  const settings = config === null ? null : pairs(config);
  const fields = info === null ? null : infoFields(info);
  const problems: string[] = [];
  const aofEnabled = fields?.get('aof_enabled');
  if (settings === null) {
    problems.push('CONFIG GET is refused by this server (a managed Redis, or an ACL without +config|get), so appendfsync cannot be checked');
    if (fields === null) problems.push('INFO persistence is refused too, so appendonly cannot be checked');
    else if (aofEnabled !== '1') problems.push(`appendonly is off (INFO persistence aof_enabled:${aofEnabled ?? 'missing'})`);
    return problems;
  }
  const appendonly = settings.get('appendonly') ?? 'missing';
  const appendfsync = settings.get('appendfsync') ?? 'missing';
  if (appendonly !== 'yes') problems.push(`appendonly is ${appendonly} (writes since the last RDB snapshot are lost when Redis restarts)`);
  else if (aofEnabled !== undefined && aofEnabled !== '1')
    problems.push(`appendonly is yes but the AOF is not on (INFO persistence aof_enabled:${aofEnabled})`);
  if (appendonly === 'yes' && appendfsync !== 'always')
    problems.push(`appendfsync is ${appendfsync} (the last writes before a crash of Redis or its host are lost)`);
  if (fields?.get('aof_last_write_status') === 'err') problems.push('AOF writes are failing (INFO persistence aof_last_write_status:err)');
  return problems;
}

/** Replies that mean "not now" rather than "not allowed": the check is retried later. */
const TRANSIENT_REPLY = /^(LOADING|BUSY|TRYAGAIN|CLUSTERDOWN|MASTERDOWN)\b/;

/** A command the server refuses (unknown, renamed, NOPERM) is null; a connection failure is thrown. */
async function refusedAsNull<T>(fn: () => Promise<T>): Promise<T | null> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ReplyError && !TRANSIENT_REPLY.test((err as Error).message)) return null;
    throw err;
  }
}

function pairs(flat: string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) map.set(String(flat[i]).toLowerCase(), String(flat[i + 1]).toLowerCase());
  return map;
}

function infoFields(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) map.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return map;
}

/**
 * For a store's ready(): false when Redis did not answer within msMax (the daemon serves
 * STORE_UNAVAILABLE until it does); throws CONFIG_INVALID when it answered and can lose writes.
 */
export async function readyAndDurable(client: RedisClient, gate: DurabilityGate, msMax: number): Promise<boolean> {
  if (!(await waitForReady(client, msMax))) return false;
  try {
    await gate.check();
    return true;
  } catch (err) {
    if (err instanceof DaemonError) throw err;
    return false;
  }
}
