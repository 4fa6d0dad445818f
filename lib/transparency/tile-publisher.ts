// Derives the public C2SP layout from the sequencer: tiles and entry bundles for a tree size, and
// the checkpoint file. Tiles are immutable by content (a path names level, index and width), so
// writing one twice, from two processes, writes the same bytes; only the checkpoint moves. A file
// already at a tile's path with other bytes (another log's, or altered) stops the publish.
import fs from 'node:fs';
import path from 'node:path';
import { DaemonError } from '../errors.js';
import { encodeEntryBundle } from './entry-bundle.js';
import { rootHash } from './merkle-tree.js';
import { checkpointOfNote, type Checkpoint } from './checkpoint.js';
import { directorySync, refuseLinksBelow, removeStaleTemporaries, writeFileAtomically, writeFileAtomicallyAsync, writeTemporary } from './durable-file.js';
import { CHECKPOINT_PATH, TILE_HEIGHT, TILE_WIDTH, entryBundlePath, hashesAtLevel, tilePath, tilesAdded, type TileRef } from './tile-layout.js';
import type { Sequencer } from './sequencer-db.js';

/** The hashes of one tile, read from the sequencer's node table. */
function tileBytes(seq: Sequencer, tile: TileRef): Buffer {
  return Buffer.concat(seq.nodes(TILE_HEIGHT * tile.level, tile.index * TILE_WIDTH, tile.width));
}

/**
 * The tile and bundle files the tree at `toSize` has and the tree at `fromSize` lacks, with their
 * bytes, less those already there. `compare`: a file already there must have these very bytes (for
 * tiles no checkpoint names yet); otherwise being there is enough (tiles under a published
 * checkpoint, which `log audit` checks: reading them all at every open would cost the whole log).
 */
function tileFiles(
  dir: string,
  seq: Sequencer,
  fromSize: number,
  toSize: number,
  compare: boolean,
): { tiles: TileRef[]; files: Array<{ file: string; data: () => Buffer }> } {
  const tiles = tilesAdded(fromSize, toSize);
  const files: Array<{ file: string; data: () => Buffer }> = [];
  for (const tile of tiles) {
    files.push({ file: path.join(dir, tilePath(tile)), data: () => tileBytes(seq, tile) });
    if (tile.level === 0) {
      const from = tile.index * TILE_WIDTH;
      files.push({ file: path.join(dir, entryBundlePath(tile)), data: () => encodeEntryBundle(seq.entries(from, from + tile.width)) });
    }
  }
  return { tiles, files: files.filter((f) => (compare ? !alreadyWritten(f.file, f.data) : !fs.existsSync(f.file))) };
}

/**
 * Whether `file` is already there with these very bytes (renamed into place by this process before a
 * crash, or by another process sharing the log). A file with other bytes is refused, never kept or
 * replaced: left, the new checkpoint would sign over another log's tiles; replaced, a tile someone
 * may have mirrored would change. The log stops publishing until an operator looks.
 */
function alreadyWritten(file: string, data: () => Buffer): boolean {
  let existing: Buffer;
  try {
    existing = fs.readFileSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  if (existing.equals(data())) return true;
  throw new DaemonError(
    'LOG_UNAVAILABLE',
    `${file} is already there with other bytes than this log's: the directory holds another log's tiles, or they were changed (move them away; a new log needs an empty directory)`,
  );
}

/** Writes the files of tileFiles and makes them durable (at open, before anything else runs). */
function writeTiles(dir: string, seq: Sequencer, fromSize: number, toSize: number): TileRef[] {
  const dirs = directorySync(dir);
  const { tiles, files } = tileFiles(dir, seq, fromSize, toSize, false);
  for (const f of files) writeFileAtomically(f.file, f.data(), dirs);
  dirs.flush();
  return tiles;
}

function writeCheckpointFile(dir: string, note: string): void {
  const dirs = directorySync(dir);
  writeFileAtomically(path.join(dir, CHECKPOINT_PATH), Buffer.from(note, 'utf8'), dirs);
  dirs.flush();
}

/**
 * Partial tiles may go once the full tile exists (tlog-tiles); clients fall back to the full one.
 * Removes the `.p` directories of the given tiles that are now full.
 */
function removeCoveredPartials(dir: string, tiles: readonly TileRef[]): void {
  for (const tile of tiles) {
    if (tile.width !== TILE_WIDTH) continue;
    const full = { ...tile, width: TILE_WIDTH };
    for (const p of tile.level === 0 ? [tilePath(full), entryBundlePath(full)] : [tilePath(full)]) {
      const partial = path.join(dir, `${p}.p`);
      // A link on the way would lead the removal elsewhere (the `.p` itself, if a link, is unlinked).
      refuseLinksBelow(dir, path.dirname(partial));
      fs.rmSync(partial, { recursive: true, force: true });
    }
  }
}

export function readCheckpointFile(dir: string): { note: string; checkpoint: Checkpoint } | null {
  let note: string;
  try {
    note = fs.readFileSync(path.join(dir, CHECKPOINT_PATH), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const checkpoint = checkpointOfNote(note);
  if (!checkpoint) throw new DaemonError('CONFIG_INVALID', `${path.join(dir, CHECKPOINT_PATH)} is not a checkpoint`);
  return { note, checkpoint };
}

/**
 * Publishes a signed checkpoint for `size` unless another process already published as far. The
 * tiles and the new checkpoint's bytes are written and fsynced first, on libuv's pool (appends go
 * on meanwhile); then, under the write lock, only the rename and its record, so two processes never
 * move the checkpoint backwards. True if it moved.
 */
export async function publishCheckpoint(dir: string, seq: Sequencer, size: number, note: string): Promise<boolean> {
  const before = seq.published()?.size ?? 0;
  if (size <= before) return false;
  const dirs = directorySync(dir);
  const { tiles, files } = tileFiles(dir, seq, before, size, true);
  // Bytes are read from the database now, in this turn; the writes overlap.
  await Promise.all(files.map((f) => writeFileAtomicallyAsync(f.file, f.data(), dirs)));
  await dirs.flushAsync();
  const checkpointFile = path.join(dir, CHECKPOINT_PATH);
  const temp = await writeTemporary(checkpointFile, Buffer.from(note, 'utf8'), dirs);
  const moved = seq.withWriteLock(() => {
    if (size <= (seq.published()?.size ?? 0)) return false;
    fs.renameSync(temp, checkpointFile);
    seq.setPublished({ size, note });
    return true;
  });
  if (moved) {
    // Should a crash lose the rename, the record (committed) brings the file back at open.
    dirs.changed(dir);
    await dirs.flushAsync();
  } else {
    await fs.promises.rm(temp, { force: true });
  }
  removeCoveredPartials(dir, tiles);
  return moved;
}

/** Writers only ever write at the right edge of the tree and the checkpoint: look for leftovers there. */
function removeEdgeTemporaries(dir: string, size: number): void {
  const sweep = (d: string): void => {
    refuseLinksBelow(dir, d);
    removeStaleTemporaries(d);
  };
  sweep(dir);
  for (let level = 0; level === 0 || hashesAtLevel(size, level) > 0; level++) {
    const index = Math.floor(hashesAtLevel(size, level) / TILE_WIDTH);
    for (const i of index > 0 ? [index - 1, index] : [index]) {
      const full = { level, index: i, width: TILE_WIDTH };
      for (const p of level === 0 ? [tilePath(full), entryBundlePath(full)] : [tilePath(full)]) {
        sweep(path.dirname(path.join(dir, p)));
        sweep(path.join(dir, `${p}.p`));
      }
    }
  }
}

/**
 * At open: the published checkpoint (file or database record) must describe a prefix of what the
 * database holds. If it does not, the database lost entries or was replaced, and appending would
 * fork the log: refuse. Then bring the tiles, the file and the record level.
 */
export function reconcile(dir: string, seq: Sequencer): void {
  // Other processes may append and publish meanwhile: the database's size is read after the
  // checkpoint it is compared with, never before (it only grows, and covers every checkpoint).
  const check = (what: string, cp: Checkpoint | null | undefined): void => {
    if (!cp) return;
    const size = seq.size();
    if (cp.origin !== seq.origin) throw new DaemonError('CONFIG_INVALID', `the ${what} is for log ${cp.origin}, not ${seq.origin}`);
    if (cp.size > size) {
      throw new DaemonError(
        'CONFIG_INVALID',
        `the ${what} has ${cp.size} entries but the log database only ${size}: the database lost entries; restore it from backup (starting afresh would fork the log)`,
      );
    }
    if (cp.size > 0 && !rootHash(seq, cp.size).equals(cp.root)) {
      throw new DaemonError(
        'CONFIG_INVALID',
        `the ${what} at size ${cp.size} does not match the log database: the log would fork; restore the matching database`,
      );
    }
  };
  const recordedCheckpoint = (): Checkpoint | null => {
    const record = seq.published();
    return record && checkpointOfNote(record.note);
  };
  const file = readCheckpointFile(dir);
  check('checkpoint file', file?.checkpoint);
  const recorded = recordedCheckpoint();
  check('published checkpoint', recorded);
  removeEdgeTemporaries(dir, seq.size());
  // Tiles are written before a checkpoint names them; rewrite any that went missing.
  const publishedSize = Math.max(file?.checkpoint.size ?? 0, recorded?.size ?? 0);
  if (publishedSize > 0) writeTiles(dir, seq, 0, publishedSize);
  seq.withWriteLock(() => {
    const nowFile = readCheckpointFile(dir);
    const record = seq.published();
    // A crash between the checkpoint's rename and its record leaves the file ahead; a restored
    // file may be behind. Either way the larger one (checked above or just now) wins.
    if (nowFile && nowFile.checkpoint.size > (record?.size ?? 0)) {
      check('checkpoint file', nowFile.checkpoint);
      seq.setPublished({ size: nowFile.checkpoint.size, note: nowFile.note });
    } else if (record && (!nowFile || nowFile.checkpoint.size < record.size)) {
      writeCheckpointFile(dir, record.note);
    }
  });
}
