// A NodeSource held in memory (every complete subtree of a list of entries), for unit tests of the
// tree math without a database or tiles.
import { leafHash, nodeHash } from '../../../lib/transparency/merkle-hash.js';
import type { NodeSource } from '../../../lib/transparency/merkle-tree.js';

export function memoryTree(entries: readonly Buffer[]): NodeSource {
  const levels: Buffer[][] = [entries.map((e) => leafHash(e))];
  while (levels[levels.length - 1]!.length > 1) {
    const below = levels[levels.length - 1]!;
    const up: Buffer[] = [];
    for (let i = 0; i + 1 < below.length; i += 2) up.push(nodeHash(below[i]!, below[i + 1]!));
    levels.push(up);
  }
  return {
    node(level, index) {
      const hash = levels[level]?.[index];
      if (!hash) throw new Error(`no complete subtree ${level}/${index}`);
      return hash;
    },
  };
}
