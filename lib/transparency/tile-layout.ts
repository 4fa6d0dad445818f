// The C2SP tlog-tiles layout (https://c2sp.org/tlog-tiles): tiles of 256 hashes at levels 0..63,
// entry bundles beside the level-0 tiles, and their paths with x-prefixed 3-digit segments.
export const TILE_HEIGHT = 8;
/** Hashes in a full tile (2^TILE_HEIGHT); a full tile is 8,192 bytes. */
export const TILE_WIDTH = 256;
export const CHECKPOINT_PATH = 'checkpoint';

export interface TileRef {
  /** Tile level; level 0 holds leaf hashes. Entry bundles share level 0's numbering. */
  level: number;
  /** Index of the tile within its level. */
  index: number;
  /** Hashes (or entries) in the tile: TILE_WIDTH when full, 1..255 when partial. */
  width: number;
}

/** 1234067 → x001/x234/067: every directory holds at most 1000 names of each kind. */
export function encodeTileIndex(index: number): string {
  if (!Number.isSafeInteger(index) || index < 0) throw new RangeError(`bad tile index ${index}`);
  let rest = Math.floor(index / 1000);
  let path = String(index % 1000).padStart(3, '0');
  while (rest > 0) {
    path = `x${String(rest % 1000).padStart(3, '0')}/${path}`;
    rest = Math.floor(rest / 1000);
  }
  return path;
}

function suffix(width: number): string {
  if (!Number.isInteger(width) || width < 1 || width > TILE_WIDTH) throw new RangeError(`bad tile width ${width}`);
  return width === TILE_WIDTH ? '' : `.p/${width}`;
}

export function tilePath(tile: TileRef): string {
  return `tile/${tile.level}/${encodeTileIndex(tile.index)}${suffix(tile.width)}`;
}

export function entryBundlePath(tile: Pick<TileRef, 'index' | 'width'>): string {
  return `tile/entries/${encodeTileIndex(tile.index)}${suffix(tile.width)}`;
}

/** The hashes at tile level `level` of a tree of `size` leaves: one per complete 256^level block. */
export function hashesAtLevel(size: number, level: number): number {
  return Math.floor(size / TILE_WIDTH ** level);
}

/** Every tile a tree of `size` leaves has: full ones and at most one partial per level. */
export function tilesOfTree(size: number): TileRef[] {
  return tilesAdded(0, size);
}

/**
 * The tiles that appear when the tree grows from `oldSize` to `newSize`: full tiles completed
 * meanwhile and the partial tile at newSize on each level (unless that level did not change).
 */
export function tilesAdded(oldSize: number, newSize: number): TileRef[] {
  const tiles: TileRef[] = [];
  for (let level = 0; hashesAtLevel(newSize, level) > 0; level++) {
    const oldCount = hashesAtLevel(oldSize, level);
    const newCount = hashesAtLevel(newSize, level);
    for (let index = Math.floor(oldCount / TILE_WIDTH); index < Math.floor(newCount / TILE_WIDTH); index++) tiles.push({ level, index, width: TILE_WIDTH });
    const width = newCount % TILE_WIDTH;
    if (width > 0 && newCount !== oldCount) tiles.push({ level, index: Math.floor(newCount / TILE_WIDTH), width });
  }
  return tiles;
}
