// `signerd log audit`: recomputes a published log from its entries alone. Every entry bundle is
// hashed into level-0 tiles, every full tile into the level above, every tile file present (full
// or partial) is compared, and the root at the checkpoint's size must be the checkpoint's. A live
// log publishes tiles before their checkpoint, so a copy may hold files newer than its checkpoint:
// where they overlap its tree they must agree with it; beyond that they are counted, not judged.
// Only a full tile (or bundle) may stand in for a partial the checkpoint names (C2SP tlog-tiles).
import fs from 'node:fs';
import path from 'node:path';
import { decodeEntryBundle } from './entry-bundle.js';
import { leafHash } from './merkle-hash.js';
import { rootHash } from './merkle-tree.js';
import { foldHashes, nodeFromTiles } from './tile-reader.js';
import { decodeLogEntry } from './log-entry.js';
import { checkpointOfNote, verifyCheckpoint, type Checkpoint } from './checkpoint.js';
import { CHECKPOINT_PATH, TILE_WIDTH, entryBundlePath, hashesAtLevel, tilePath } from './tile-layout.js';
import type { NoteVerifierKey } from './note-key.js';

export interface AuditReport {
  checkpoint: Checkpoint | null;
  signature: 'verified' | 'not checked' | 'invalid';
  entries: number;
  /** Tile and bundle files compared with the recomputation. */
  files: number;
  /** Entries that are not signerd version-1 entries (reported, not fatal: the log proves bytes). */
  foreignEntries: number;
  /**
   * Wider versions of the last tiles and bundles, published after this checkpoint: their first
   * hashes or entries were compared with this checkpoint's tree; the rest no checkpoint here covers.
   */
  newerFiles: number;
  problems: string[];
}

function read(dir: string, relative: string): Buffer | null {
  try {
    return fs.readFileSync(path.join(dir, relative));
  } catch {
    return null;
  }
}

/** Widths of the files present for a tile (or bundle) path: its partials, and the full one if there. */
function presentWidths(dir: string, fullPath: string): number[] {
  let widths: number[];
  try {
    widths = fs
      .readdirSync(path.join(dir, `${fullPath}.p`))
      .filter((n) => /^[1-9][0-9]*$/.test(n))
      .map(Number)
      .filter((w) => w < TILE_WIDTH);
  } catch {
    widths = [];
  }
  return fs.existsSync(path.join(dir, fullPath)) ? [...widths, TILE_WIDTH] : widths;
}

/** `previous`: a checkpoint seen earlier, whose tree must be a prefix of this one (same root at its size). */
export function auditLog(dir: string, key: NoteVerifierKey | null, previous: Checkpoint | null = null, checkpointNote?: string): AuditReport {
  const report: AuditReport = { checkpoint: null, signature: 'not checked', entries: 0, files: 0, foreignEntries: 0, newerFiles: 0, problems: [] };
  // A mirror audits the checkpoint it fetched before putting it in place (lib/transparency/log-mirror.ts).
  const note = checkpointNote ?? read(dir, CHECKPOINT_PATH)?.toString('utf8');
  if (note === undefined) {
    report.problems.push('no checkpoint file');
    return report;
  }
  let checkpoint: Checkpoint | null;
  if (key) {
    const verdict = verifyCheckpoint(note, key);
    report.signature = verdict.ok ? 'verified' : 'invalid';
    if (!verdict.ok) report.problems.push(`checkpoint: ${verdict.reason}`);
    checkpoint = verdict.ok ? verdict.checkpoint : checkpointOfNote(note);
  } else {
    checkpoint = checkpointOfNote(note);
  }
  if (!checkpoint) {
    report.problems.push('the checkpoint file is not a checkpoint');
    return report;
  }
  report.checkpoint = checkpoint;
  const size = checkpoint.size;
  report.entries = size;

  const compare = (relative: string, expected: Buffer): void => {
    const found = read(dir, relative);
    report.files++;
    if (!found) report.problems.push(`${relative}: missing`);
    else if (!found.equals(expected)) report.problems.push(`${relative}: differs from the recomputation`);
  };
  /** A file wider than the checkpoint's: it must begin with the checkpoint's hashes (`expected`). */
  const compareNewer = (relative: string, expected: Buffer, what: string): void => {
    const found = read(dir, relative);
    if (!found) return;
    report.files++;
    report.newerFiles++;
    if (!found.subarray(0, expected.length).equals(expected)) report.problems.push(`${relative}: its first ${what} differ from the checkpoint's`);
  };
  /**
   * The tile file at the checkpoint's width, every older partial of it, and any newer one, against the
   * hashes. A log that grew since removes partials once a tile is full: then the full tile stands in
   * (the spec's fallback for clients), so the checkpoint's own width may be absent. A wider partial
   * never stands in: a live log removes partials only once the full tile exists, and clients (Go's
   * TileHashReader, `log mirror`) fall back to the full tile alone, so they could not read this tree.
   */
  const compareTile = (level: number, index: number, hashes: Buffer[]): void => {
    const expected = Buffer.concat(hashes);
    const widths = presentWidths(dir, tilePath({ level, index, width: TILE_WIDTH }));
    const own = tilePath({ level, index, width: hashes.length });
    if (widths.includes(hashes.length) || !widths.some((w) => w > hashes.length)) compare(own, expected);
    else if (!widths.includes(TILE_WIDTH)) {
      report.files++;
      report.problems.push(`${own}: missing (a wider partial does not stand in for it; only the full tile does)`);
    }
    for (const w of widths) {
      if (w > hashes.length) compareNewer(tilePath({ level, index, width: w }), expected, `${hashes.length} hashes`);
      else if (w < hashes.length) compare(tilePath({ level, index, width: w }), Buffer.concat(hashes.slice(0, w)));
    }
  };

  // Level 0, a bundle at a time (memory stays bounded): entries → leaf hashes → the level-0 tile.
  // Only the level-0 tiles that roots are computed in are kept (the checkpoint's, --previous's).
  const kept = new Map<number, Buffer>();
  const keep = new Set([Math.floor(size / TILE_WIDTH), ...(previous ? [Math.floor(previous.size / TILE_WIDTH)] : [])]);
  // levels[L] (L ≥ 1): the recomputed hashes of tile level L, each the root of a full tile below.
  const levels: Buffer[][] = [[], []];
  for (let index = 0; index * TILE_WIDTH < size; index++) {
    const width = Math.min(TILE_WIDTH, size - index * TILE_WIDTH);
    const widths = presentWidths(dir, entryBundlePath({ index, width: TILE_WIDTH }));
    // The bundle at the checkpoint's width, or (the log grew since, filled the tile and dropped the
    // partial) the full one: clients fall back to nothing else, so without either the log is unreadable.
    const standIn = widths.includes(width) ? width : widths.includes(TILE_WIDTH) ? TILE_WIDTH : null;
    const wider = widths.filter((w) => w > width).sort((a, b) => a - b)[0];
    if (standIn === null && wider !== undefined) {
      report.files++;
      report.problems.push(`${entryBundlePath({ index, width })}: missing (a wider partial does not stand in for it; only the full bundle does)`);
    }
    // Read on from the wider partial, so that the rest of the log is still judged.
    const source = standIn ?? wider ?? width;
    const bundlePath = entryBundlePath({ index, width: source });
    const bundle = read(dir, bundlePath);
    report.files++;
    if (source > width) report.newerFiles++;
    const entries = bundle && decodeEntryBundle(bundle, source)?.slice(0, width);
    if (!entries) {
      report.problems.push(`${bundlePath}: ${bundle ? 'not a bundle of ' + source + ' entries' : 'missing'}`);
      return report;
    }
    const hashes = entries.map((e) => leafHash(e));
    report.foreignEntries += entries.filter((e) => decodeLogEntry(e) === null).length;
    // Other widths of this bundle, older or newer, must hold the same first entries.
    for (const w of widths.filter((w) => w !== source)) {
      const other = read(dir, entryBundlePath({ index, width: w }));
      report.files++;
      if (w > width) report.newerFiles++;
      const otherEntries = other && decodeEntryBundle(other, w);
      if (!otherEntries || entries.slice(0, Math.min(w, width)).some((e, i) => !e.equals(otherEntries[i]!)))
        report.problems.push(`${entryBundlePath({ index, width: w })}: differs from the entries`);
    }
    compareTile(0, index, hashes);
    if (width === TILE_WIDTH) levels[1]!.push(foldHashes(hashes));
    if (keep.has(index)) kept.set(index, Buffer.concat(hashes));
  }

  // The levels above: each tile file against the recomputed hashes; full tiles feed the next level.
  for (let level = 1; hashesAtLevel(size, level) > 0; level++) {
    const hashes = levels[level]!;
    const next: Buffer[] = [];
    for (let index = 0; index * TILE_WIDTH < hashes.length; index++) {
      const slice = hashes.slice(index * TILE_WIDTH, (index + 1) * TILE_WIDTH);
      compareTile(level, index, slice);
      if (slice.length === TILE_WIDTH) next.push(foldHashes(slice));
    }
    levels.push(next);
  }

  const recomputed = { node: nodeFromTiles((l, i) => (l === 0 ? kept.get(i)! : Buffer.concat(levels[l]!.slice(i * TILE_WIDTH, (i + 1) * TILE_WIDTH)))) };
  if (size > 0 && !rootHash(recomputed, size).equals(checkpoint.root))
    report.problems.push(`the checkpoint's root hash at size ${size} is not the root of the entries`);
  if (previous) {
    if (previous.origin !== checkpoint.origin) report.problems.push(`previous checkpoint is for log ${previous.origin}, not ${checkpoint.origin}`);
    else if (previous.size > size) report.problems.push(`previous checkpoint has ${previous.size} entries, this log only ${size}: the log shrank`);
    else if (previous.size > 0 && !rootHash(recomputed, previous.size).equals(previous.root))
      report.problems.push(`previous checkpoint's root at size ${previous.size} is not this log's: the log forked`);
  }
  return report;
}
