// The `watermarks` table's row as the two SQL stores (SQLite, PostgreSQL) share it, and the mark or
// entry it holds.
import type { Mark, MarkEntry, Slot } from './watermark-store.js';

export interface WatermarkRow {
  chain_id: string;
  pkh: string;
  kind: string;
  level: number;
  round: number;
  digest: string;
  signature: string | null;
}

export function rowMark(row: WatermarkRow | undefined): Mark | null {
  return row ? { level: row.level, round: row.round, digest: row.digest, signature: row.signature } : null;
}

export function rowEntry(row: WatermarkRow): MarkEntry {
  return {
    chainId: row.chain_id,
    pkh: row.pkh,
    kind: row.kind as Slot['kind'],
    level: row.level,
    round: row.round,
    digest: row.digest,
    signature: row.signature,
  };
}
