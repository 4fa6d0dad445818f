// `signerd log audit`: recomputes a published log from its entries alone. Every entry bundle is
// hashed into level-0 tiles, every full tile into the level above, every tile file present (full
// or partial) is compared, and the root at the checkpoint's size must be the checkpoint's.
import fs from 'node:fs';
import path from 'node:path';
import { decodeEntryBundle } from './entry-bundle.js';
import { leafHash } from './merkle-hash.js';
import { rootHash } from './merkle-tree.js';
import { foldHashes, nodeFromTiles } from './tile-reader.js';
import { decodeLogEntry } from './log-entry.js';
import { parseCheckpointText, verifyCheckpoint, type Checkpoint } from './checkpoint.js';
import { parseSignedNote } from './signed-note.js';
import { CHECKPOINT_PATH, TILE_WIDTH, entryBundlePath, hashesAtLevel, tilePath, type TileRef } from './tile-layout.js';
import type { NoteVerifierKey } from './note-key.js';

export interface AuditReport {
  checkpoint: Checkpoint | null;
  signature: 'verified' | 'not checked' | 'invalid';
  entries: number;
  /** Tile and bundle files compared with the recomputation. */
  files: number;
  /** Entries that are not signerd version-1 entries (reported, not fatal: the log proves bytes). */
  foreignEntries: number;
  problems: string[];
}

function read(dir: string, relative: string): Buffer | null {
  try {
    return fs.readFileSync(path.join(dir, relative));
  } catch {
    return null;
  }
}

/** Widths of the partial files present for a tile (or bundle) path. */
function partialWidths(dir: string, fullPath: string): number[] {
  try {
    return fs
      .readdirSync(path.join(dir, `${fullPath}.p`))
      .filter((n) => /^[1-9][0-9]*$/.test(n))
      .map(Number)
      .filter((w) => w < TILE_WIDTH);
  } catch {
    return [];
  }
}

/** `previous`: a checkpoint seen earlier, whose tree must be a prefix of this one (same root at its size). */
export function auditLog(dir: string, key: NoteVerifierKey | null, previous: Checkpoint | null = null): AuditReport {
  const report: AuditReport = { checkpoint: null, signature: 'not checked', entries: 0, files: 0, foreignEntries: 0, problems: [] };
  const note = read(dir, CHECKPOINT_PATH)?.toString('utf8');
  if (note === undefined) {
    report.problems.push('no checkpoint file');
    return report;
  }
  let checkpoint: Checkpoint | null;
  if (key) {
    const verdict = verifyCheckpoint(note, key);
    report.signature = verdict.ok ? 'verified' : 'invalid';
    if (!verdict.ok) report.problems.push(`checkpoint: ${verdict.reason}`);
    checkpoint = verdict.ok ? verdict.checkpoint : parseCheckpointText(parseSignedNote(note)?.text ?? '');
  } else {
    checkpoint = parseCheckpointText(parseSignedNote(note)?.text ?? '');
  }
  if (!checkpoint) {
    report.problems.push('the checkpoint file is not a checkpoint');
    return report;
  }
  report.checkpoint = checkpoint;
  const size = checkpoint.size;
  report.entries = size;

  // levels[L] holds the recomputed hashes of tile level L: hashesAtLevel(size, L) of them.
  const levels: Buffer[][] = [[]];
  const compare = (relative: string, expected: Buffer): void => {
    const found = read(dir, relative);
    report.files++;
    if (!found) report.problems.push(`${relative}: missing`);
    else if (!found.equals(expected)) report.problems.push(`${relative}: differs from the recomputation`);
  };

  // Level 0, a bundle at a time: entries → leaf hashes, checked against the bundle's tile.
  for (let index = 0; index * TILE_WIDTH < size; index++) {
    const width = Math.min(TILE_WIDTH, size - index * TILE_WIDTH);
    const bundlePath = entryBundlePath({ index, width });
    const bundle = read(dir, bundlePath);
    report.files++;
    const entries = bundle && decodeEntryBundle(bundle, width);
    if (!entries) {
      report.problems.push(`${bundlePath}: ${bundle ? 'not a bundle of ' + width + ' entries' : 'missing'}`);
      return report;
    }
    const hashes = entries.map((e) => leafHash(e));
    report.foreignEntries += entries.filter((e) => decodeLogEntry(e) === null).length;
    levels[0]!.push(...hashes);
    // Older partial bundles must hold the same first entries.
    const full = { level: 0, index, width: TILE_WIDTH };
    for (const w of partialWidths(dir, entryBundlePath(full)).filter((w) => w !== width)) {
      const older = read(dir, entryBundlePath({ index, width: w }));
      report.files++;
      const olderEntries = older && decodeEntryBundle(older, w);
      if (w > width) report.problems.push(`${entryBundlePath({ index, width: w })}: beyond the checkpoint`);
      else if (!olderEntries || olderEntries.some((e, i) => !e.equals(entries[i]!))) report.problems.push(`${entryBundlePath({ index, width: w })}: differs from the entries`);
    }
  }

  // Every level: compare each tile file with the recomputed hashes, and feed full tiles upwards.
  for (let level = 0; hashesAtLevel(size, level) > 0; level++) {
    const hashes = levels[level]!;
    const next: Buffer[] = [];
    for (let index = 0; index * TILE_WIDTH < hashes.length; index++) {
      const slice = hashes.slice(index * TILE_WIDTH, (index + 1) * TILE_WIDTH);
      const tile: TileRef = { level, index, width: slice.length };
      compare(tilePath(tile), Buffer.concat(slice));
      for (const w of partialWidths(dir, tilePath({ ...tile, width: TILE_WIDTH })).filter((w) => w !== slice.length)) {
        if (w > slice.length) {
          report.files++;
          report.problems.push(`${tilePath({ ...tile, width: w })}: beyond the checkpoint`);
        } else {
          compare(tilePath({ ...tile, width: w }), Buffer.concat(slice.slice(0, w)));
        }
      }
      if (slice.length === TILE_WIDTH) next.push(foldHashes(slice));
    }
    levels.push(next);
  }

  const recomputed = { node: nodeFromTiles((l, i) => Buffer.concat(levels[l]!.slice(i * TILE_WIDTH, (i + 1) * TILE_WIDTH))) };
  if (size > 0 && !rootHash(recomputed, size).equals(checkpoint.root)) report.problems.push(`the checkpoint's root hash at size ${size} is not the root of the entries`);
  if (previous) {
    if (previous.origin !== checkpoint.origin) report.problems.push(`previous checkpoint is for log ${previous.origin}, not ${checkpoint.origin}`);
    else if (previous.size > size) report.problems.push(`previous checkpoint has ${previous.size} entries, this log only ${size}: the log shrank`);
    else if (previous.size > 0 && !rootHash(recomputed, previous.size).equals(previous.root)) report.problems.push(`previous checkpoint's root at size ${previous.size} is not this log's: the log forked`);
  }
  return report;
}
