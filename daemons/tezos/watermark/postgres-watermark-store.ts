// The shared watermark store on PostgreSQL: one row per slot in <schema>.watermarks, advanced by one
// INSERT … ON CONFLICT DO UPDATE … WHERE (level, round) < (new level, new round). Under READ COMMITTED
// the conflicting row is locked and the WHERE is evaluated on its latest committed version, so two
// hosts can never both advance a slot to one mark; the statement commits (durably, as the server's
// synchronous_commit says) before it resolves and before anything is signed.
import { durableWrite } from '../../../lib/store/postgres-connection.js';
import type { PostgresStoreClient } from '../../../lib/store/postgres-store-client.js';
import { decide, raises } from './watermark-rule.js';
import { rowEntry, rowMark, type WatermarkRow } from './watermark-row.js';
import type { Mark, RequestedMark, ReserveOutcome, Slot, WatermarkBackend } from './watermark-store.js';

/**
 * A refusal re-reads the row; only an admin `--force` write lowering the slot in between can make the
 * re-read look reservable, and then the compare-and-set is tried again, at most this many times.
 */
const RESERVE_ATTEMPTS_MAX = 3;

export function createPostgresWatermarkStore(store: PostgresStoreClient): WatermarkBackend {
  const { pool, schema } = store;
  const table = `${schema}.watermarks`;
  const q = {
    reserve: `INSERT INTO ${table} AS w (chain_id, pkh, kind, level, round, digest, signature, updated_ms) VALUES ($1, $2, $3, $4, $5, $6, NULL, $7)
      ON CONFLICT (chain_id, pkh, kind) DO UPDATE SET level = excluded.level, round = excluded.round, digest = excluded.digest, signature = NULL,
        updated_ms = excluded.updated_ms
      WHERE (w.level, w.round) < (excluded.level, excluded.round)
      RETURNING 1`,
    record: `UPDATE ${table} SET signature = $7, updated_ms = $8
      WHERE chain_id = $1 AND pkh = $2 AND kind = $3 AND level = $4 AND round = $5 AND digest = $6 AND signature IS NULL`,
    select: `SELECT level, round, digest, signature FROM ${table} WHERE chain_id = $1 AND pkh = $2 AND kind = $3`,
    put: `INSERT INTO ${table} AS w (chain_id, pkh, kind, level, round, digest, signature, updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
      ON CONFLICT (chain_id, pkh, kind) DO UPDATE SET level = excluded.level, round = excluded.round, digest = excluded.digest,
        signature = excluded.signature, updated_ms = excluded.updated_ms
      WHERE $9 OR (w.level, w.round) < (excluded.level, excluded.round)
      RETURNING 1`,
    list: `SELECT * FROM ${table} ORDER BY chain_id, pkh, kind`,
  };
  const named = (name: keyof typeof q, values: unknown[]): { name: string; text: string; values: unknown[] } => ({
    name: `signerd_${schema}_wm_${name}`,
    text: q[name],
    values,
  });
  const slotValues = (slot: Slot): unknown[] => [slot.chainId, slot.pkh, slot.kind];

  async function read(slot: Slot): Promise<Mark | null> {
    return rowMark((await pool.query<WatermarkRow>(named('select', slotValues(slot)))).rows[0]);
  }

  async function reserve(slot: Slot, mark: RequestedMark): Promise<ReserveOutcome> {
    for (let attempt = 1; ; attempt++) {
      const advanced = await durableWrite(pool, named('reserve', [...slotValues(slot), mark.level, mark.round, mark.digest, Date.now()]));
      if (advanced.rowCount === 1) return { kind: 'reserved' };
      // Not above the stored mark: a new statement (a fresh snapshot) reads what refused us, to tell
      // an identical retry ("same", with its signature) from a refusal. Nothing is signed on this path.
      const outcome = decide(await read(slot), mark);
      if (outcome.kind !== 'reserved') return outcome;
      if (attempt >= RESERVE_ATTEMPTS_MAX) throw new Error('the slot kept changing under the reserve');
    }
  }

  return {
    reserve: (slot, mark) => store.guard('watermark reserve', () => reserve(slot, mark)),
    recordSignature: (slot, mark, signature) =>
      store.guard(
        'watermark record',
        // Bounded as a reserve is (durableWrite): a commit left waiting for a synchronous standby that
        // is gone is cancelled, not left holding a connection slot on the server.
        async () => void (await durableWrite(pool, named('record', [...slotValues(slot), mark.level, mark.round, mark.digest, signature, Date.now()]))),
      ),
    read: (slot) => store.guard('watermark read', () => read(slot)),
    list: () => store.guard('watermark list', async () => (await pool.query<WatermarkRow>(q.list)).rows.map(rowEntry)),
    put: (entry, force) =>
      store.guard('watermark write', async () => {
        // raises() is the rule; the WHERE applies the same order atomically against the current row.
        if (!force && !raises(entry, await read(entry))) return false;
        const done = await durableWrite(pool, named('put', [...slotValues(entry), entry.level, entry.round, entry.digest, entry.signature, Date.now(), force]));
        return done.rowCount === 1;
      }),
    ready: (msMax) => store.ready(msMax),
    // txid_current() gives the probe's transaction an id, so its commit is a real one: it waits for
    // a synchronous standby as a reserve's does, and a standby (read-only) refuses it.
    probeWrite: () => store.guard('watermark probe', async () => void (await durableWrite(pool, { text: 'SELECT txid_current()' }))),
    close: () => store.close(),
  };
}
