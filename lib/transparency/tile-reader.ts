// Reads a published log (a log directory or a mirror of it) through its C2SP layout only: subtree
// hashes from tiles, entries from entry bundles. What the proofs and `signerd log` print comes from
// here, so it is exactly what an outside verifier can check.
import fs from 'node:fs';
import path from 'node:path';
import { DaemonError } from '../errors.js';
import { decodeEntryBundle } from './entry-bundle.js';
import { HASH_BYTES, nodeHash } from './merkle-hash.js';
import type { NodeSource } from './merkle-tree.js';
import { TILE_HEIGHT, TILE_WIDTH, entryBundlePath, hashesAtLevel, tilePath, type TileRef } from './tile-layout.js';

export interface PublishedTree extends NodeSource {
  readonly size: number;
  entry(index: number): Buffer;
}

function readFile(file: string): Buffer | null {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/**
 * The tile (or bundle) at `ref` for a tree of `size`: the full one if present, else the partial of
 * the width that size implies, else a wider partial (same first hashes), with at least `minWidth`.
 */
function readTile(dir: string, ref: Omit<TileRef, 'width'>, size: number, minWidth: number, pathOf: (t: TileRef) => string): { data: Buffer; width: number } {
  const widthAtSize = Math.min(TILE_WIDTH, hashesAtLevel(size, ref.level) - ref.index * TILE_WIDTH);
  const candidates = [TILE_WIDTH, widthAtSize];
  const partialDir = path.join(dir, `${pathOf({ ...ref, width: TILE_WIDTH })}.p`);
  let listed: string[] = [];
  try {
    listed = fs.readdirSync(partialDir);
  } catch {
    // No partials.
  }
  candidates.push(
    ...listed
      .filter((n) => /^[1-9][0-9]*$/.test(n))
      .map(Number)
      .sort((a, b) => a - b),
  );
  for (const width of candidates) {
    if (width < minWidth || width < 1 || width > TILE_WIDTH) continue;
    const file = path.join(dir, pathOf({ ...ref, width }));
    const data = readFile(file);
    if (data) return { data, width };
  }
  throw new DaemonError('NOT_FOUND', `${pathOf({ ...ref, width: widthAtSize })}: not in the log directory`);
}

/** The root of the complete subtree over 2^k consecutive hashes. */
export function foldHashes(hashes: Buffer[]): Buffer {
  let level = hashes;
  while (level.length > 1) {
    const up: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2) up.push(nodeHash(level[i]!, level[i + 1]!));
    level = up;
  }
  return level[0]!;
}

/**
 * Any complete subtree's hash from tile hashes: tiles hold every 8th level, the levels between are
 * rebuilt by hashing. `tile(level, index, minWidth)` gives at least minWidth hashes of that tile.
 */
export function nodeFromTiles(tile: (tileLevel: number, tileIndex: number, minWidth: number) => Buffer): NodeSource['node'] {
  return (level, index) => {
    const tileLevel = Math.floor(level / TILE_HEIGHT);
    const span = 2 ** (level - tileLevel * TILE_HEIGHT);
    const first = index * span;
    const tileIndex = Math.floor(first / TILE_WIDTH);
    const offset = first - tileIndex * TILE_WIDTH;
    const data = tile(tileLevel, tileIndex, offset + span);
    const hashes: Buffer[] = [];
    for (let i = offset; i < offset + span; i++) hashes.push(data.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES));
    return foldHashes(hashes);
  };
}

export function openPublishedTree(dir: string, size: number): PublishedTree {
  const tiles = new Map<string, Buffer>();
  const bundles = new Map<number, Buffer[]>();

  const tileHashes = (level: number, index: number, minWidth: number): Buffer => {
    const key = `${level}/${index}`;
    const cached = tiles.get(key);
    if (cached && cached.length >= minWidth * HASH_BYTES) return cached;
    const { data, width } = readTile(dir, { level, index }, size, minWidth, tilePath);
    if (data.length !== width * HASH_BYTES)
      throw new DaemonError('BAD_REQUEST', `${tilePath({ level, index, width })}: ${data.length} bytes, expected ${width * HASH_BYTES}`);
    tiles.set(key, data);
    return data;
  };

  return {
    size,
    node: nodeFromTiles(tileHashes),
    entry(index) {
      if (!(Number.isSafeInteger(index) && index >= 0 && index < size)) throw new DaemonError('NOT_FOUND', `entry ${index} is not in the log (size ${size})`);
      const bundleIndex = Math.floor(index / TILE_WIDTH);
      let entries = bundles.get(bundleIndex);
      const need = index - bundleIndex * TILE_WIDTH + 1;
      if (!entries || entries.length < need) {
        const { data, width } = readTile(dir, { level: 0, index: bundleIndex }, size, need, entryBundlePath);
        const decoded = decodeEntryBundle(data, width);
        if (!decoded) throw new DaemonError('BAD_REQUEST', `${entryBundlePath({ index: bundleIndex, width })}: not a bundle of ${width} entries`);
        entries = decoded;
        bundles.set(bundleIndex, entries);
      }
      return entries[index - bundleIndex * TILE_WIDTH]!;
    },
  };
}
