// The marks `signerd tezos watermark set|import` write and `export` writes out: every entry is checked
// field by field before anything is written, and the export document has one versioned format.
import fs from 'node:fs';
import { DaemonError } from '../../../lib/errors.js';
import { CONSENSUS_KINDS, type ConsensusKind } from '../signing/sign-request.js';
import type { MarkEntry } from '../watermark/watermark-store.js';

const EXPORT_FORMAT = 'signerd-tezos-watermarks';

export function exportDocument(marks: MarkEntry[]): string {
  return JSON.stringify({ format: EXPORT_FORMAT, version: 1, exportedAt: new Date().toISOString(), marks }, null, 2) + '\n';
}

/** Reads an export (our JSON object with `marks`) or a bare JSON array of entries; `-` is stdin. */
export function readExport(file: string): MarkEntry[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file === '-' ? 0 : file, 'utf8'));
  } catch (err) {
    throw new DaemonError('BAD_REQUEST', `${file}: not readable JSON (${(err as Error).message})`);
  }
  const list = Array.isArray(parsed) ? parsed : (parsed as { marks?: unknown })?.marks;
  if (!Array.isArray(list)) throw new DaemonError('BAD_REQUEST', `${file}: expected {"format":"${EXPORT_FORMAT}","marks":[…]} or an array of marks`);
  // Every entry is checked before anything is written: an import is all or nothing on bad input.
  const entries = list.map((item, i) => checkedEntry(item, `${file}: marks[${i}]`));
  // One mark per slot: with --force the last would win, and two exports joined could lower a slot.
  const seen = new Map<string, number>();
  entries.forEach((e, i) => {
    const slot = `${e.chainId} ${e.pkh} ${e.kind}`;
    const first = seen.get(slot);
    if (first !== undefined) throw new DaemonError('BAD_REQUEST', `${file}: marks[${first}] and marks[${i}] are both for ${slot}; keep one mark per slot`);
    seen.set(slot, i);
  });
  return entries;
}

/** One entry as written: only the known fields, each valid (BAD_REQUEST naming `where` otherwise). */
export function checkedEntry(value: unknown, where: string): MarkEntry {
  const v = (value ?? {}) as Partial<MarkEntry>;
  const entry = { ...v, digest: v.digest ?? '', signature: v.signature ?? null } as MarkEntry;
  const reason = invalidEntryReason(entry);
  if (reason) throw new DaemonError('BAD_REQUEST', `${where}: ${reason}`);
  return { chainId: entry.chainId, pkh: entry.pkh, kind: entry.kind, level: entry.level, round: entry.round, digest: entry.digest, signature: entry.signature };
}

/** A reason the entry is invalid, or null. */
function invalidEntryReason(entry: Partial<MarkEntry>): string | null {
  if (typeof entry.chainId !== 'string' || !/^Net[1-9A-HJ-NP-Za-km-z]{12}$/.test(entry.chainId)) return 'chainId: expected a Net… chain id';
  if (typeof entry.pkh !== 'string' || !/^tz[1-5][1-9A-HJ-NP-Za-km-z]{33}$/.test(entry.pkh)) return 'pkh: expected a tz1…tz5 address';
  if (!CONSENSUS_KINDS.includes(entry.kind as ConsensusKind)) return `kind: expected one of ${CONSENSUS_KINDS.join(', ')}`;
  if (!isInt32(entry.level) || (entry.level as number) < 0) return 'level: expected a non-negative int32';
  if (!isInt32(entry.round) || (entry.round as number) < 0) return 'round: expected a non-negative int32';
  if (typeof entry.digest !== 'string' || !/^([0-9a-f]{64})?$/.test(entry.digest)) return 'digest: expected 64 hex digits or ""';
  if (entry.signature !== null && entry.signature !== undefined && typeof entry.signature !== 'string') return 'signature: expected a string or null';
  return null;
}

function isInt32(n: unknown): boolean {
  return typeof n === 'number' && Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31;
}
