// The C2SP tlog-tiles layout: index encoding and paths as the spec writes them, the tiles a tree
// has (the spec's 70,000 and 256 entry examples), and entry bundles.
import t from 'tap';
import { loadVectors } from '../../helpers/vectors.js';
import { codeOf } from '../../helpers/error-codes.js';
import { encodeTileIndex, entryBundlePath, tilePath, tilesAdded, tilesOfTree } from '../../../lib/transparency/tile-layout.js';
import { decodeEntryBundle, encodeEntryBundle } from '../../../lib/transparency/entry-bundle.js';

interface Vectors {
  indexEncoding: Array<{ index: number; path: string }>;
  paths: Array<{ level?: number; entries?: boolean; index: number; width: number; path: string }>;
  trees: Array<{ size: number; tiles: Record<string, { full: number; partial: number }> }>;
}

const v = loadVectors<Vectors>('transparency/tlog-tiles.json');

t.test('index encoding and paths', async (t) => {
  for (const c of v.indexEncoding) t.equal(encodeTileIndex(c.index), c.path, `index ${c.index}`);
  for (const c of v.paths) t.equal(c.entries ? entryBundlePath(c) : tilePath({ level: c.level!, index: c.index, width: c.width }), c.path);
});

t.test('the tiles of a tree, as the spec counts them', async (t) => {
  for (const c of v.trees) {
    const tiles = tilesOfTree(c.size);
    const levels = Object.keys(c.tiles).map(Number);
    t.equal(Math.max(...tiles.map((x) => x.level)), Math.max(...levels), `size ${c.size}: levels`);
    for (const level of levels) {
      const here = tiles.filter((x) => x.level === level);
      t.equal(here.filter((x) => x.width === 256).length, c.tiles[level]!.full, `size ${c.size} level ${level}: full tiles`);
      const partial = here.filter((x) => x.width < 256);
      t.same(
        partial.map((x) => x.width),
        c.tiles[level]!.partial ? [c.tiles[level]!.partial] : [],
        `size ${c.size} level ${level}: partial tile`,
      );
    }
  }
});

t.test('growing a tree adds the tiles completed meanwhile and the new partials', async (t) => {
  const added = tilesAdded(250, 70000);
  const all = tilesOfTree(70000);
  t.same(
    added.filter((x) => x.level > 0),
    all.filter((x) => x.level > 0),
    'every upper tile is new',
  );
  t.equal(added.filter((x) => x.level === 0).length, all.filter((x) => x.level === 0).length, 'level 0: from the first tile on');
  t.same(tilesAdded(300, 300), [], 'nothing when nothing changed');
  t.same(tilesAdded(300, 301), [{ level: 0, index: 1, width: 45 }], 'one more entry: the wider partial');
});

t.test('entry bundles', async (t) => {
  const entries = [Buffer.from('a'), Buffer.alloc(0), Buffer.alloc(70_000 - 4535, 7)];
  const bundle = encodeEntryBundle(entries);
  t.same(decodeEntryBundle(bundle, 3), entries, 'round trip');
  t.equal(bundle.readUInt16BE(0), 1, 'big-endian uint16 length prefix');
  t.equal(decodeEntryBundle(bundle, 2), null, 'wrong count');
  t.equal(decodeEntryBundle(bundle.subarray(0, bundle.length - 1), 3), null, 'truncated');
  t.equal(decodeEntryBundle(Buffer.concat([bundle, Buffer.from([0])]), 3), null, 'trailing byte');
  t.equal(
    codeOf(() => encodeEntryBundle([Buffer.alloc(65_536)])),
    'BAD_REQUEST',
    'an entry over 65,535 bytes',
  );
});
