// RFC 6962 hashing, tree hashes and proofs against the certificate-transparency reference vectors,
// then every proof of every small tree generated and checked by the independent verifier, which
// must also refuse each proof with one bit flipped, a hash missing or added, or wrong sizes.
import t from 'tap';
import { loadVectors } from '../../helpers/vectors.js';
import { leafHash } from '../../../lib/transparency/merkle-hash.js';
import { consistencyProof, inclusionProof, rootHash } from '../../../lib/transparency/merkle-tree.js';
import { verifyConsistency, verifyInclusion } from '../../../lib/transparency/merkle-proof-check.js';
import { memoryTree } from './memory-tree.js';

interface Vectors {
  leaves: string[];
  emptyTreeRoot: string;
  roots: string[];
  inclusion: Array<{ index: number; size: number; proof: string[] }>;
  consistency: Array<{ oldSize: number; newSize: number; proof: string[] }>;
}

const v = loadVectors<Vectors>('transparency/rfc6962-merkle.json');
const leaves = v.leaves.map((h) => Buffer.from(h, 'hex'));
const hex = (hashes: Buffer[]): string[] => hashes.map((h) => h.toString('hex'));
const unhex = (hashes: string[]): Buffer[] => hashes.map((h) => Buffer.from(h, 'hex'));

function flipped(proof: Buffer[], i: number): Buffer[] {
  return proof.map((h, j) => (j === i ? Buffer.from(h.map((b, k) => (k === 0 ? b ^ 8 : b))) : h));
}

t.test('tree hashes of the first n reference leaves', async (t) => {
  for (let n = 1; n <= leaves.length; n++) {
    t.equal(rootHash(memoryTree(leaves.slice(0, n)), n).toString('hex'), v.roots[n - 1], `MTH(D[0:${n}])`);
  }
});

t.test('audit paths: generated as the vectors give them, and verified', async (t) => {
  for (const c of v.inclusion) {
    const tree = memoryTree(leaves.slice(0, c.size));
    const proof = inclusionProof(tree, c.index, c.size);
    t.same(hex(proof), c.proof, `PATH(${c.index}, D[${c.size}])`);
    t.ok(verifyInclusion(c.index, c.size, leafHash(leaves[c.index]!), unhex(c.proof), Buffer.from(v.roots[c.size - 1]!, 'hex')), 'verifies');
  }
});

t.test('consistency proofs: generated as the vectors give them, and verified', async (t) => {
  for (const c of v.consistency) {
    const tree = memoryTree(leaves.slice(0, c.newSize));
    t.same(hex(consistencyProof(tree, c.oldSize, c.newSize)), c.proof, `PROOF(${c.oldSize}, D[${c.newSize}])`);
    t.ok(
      verifyConsistency(c.oldSize, c.newSize, Buffer.from(v.roots[c.oldSize - 1]!, 'hex'), Buffer.from(v.roots[c.newSize - 1]!, 'hex'), unhex(c.proof)),
      'verifies',
    );
  }
});

t.test('every proof of every tree up to 40 leaves verifies, and every corruption of it fails', async (t) => {
  const entries = Array.from({ length: 40 }, (_, i) => Buffer.from(`entry ${i}`));
  const full = memoryTree(entries);
  const roots = [Buffer.alloc(0), ...entries.map((_, i) => rootHash(full, i + 1))];
  let checked = 0;
  let refused = 0;
  for (let size = 1; size <= entries.length; size++) {
    for (let index = 0; index < size; index++) {
      const leaf = leafHash(entries[index]!);
      const proof = inclusionProof(full, index, size);
      if (!verifyInclusion(index, size, leaf, proof, roots[size]!)) t.fail(`inclusion ${index}/${size}`);
      checked++;
      const bad = [
        ...proof.map((_, i) => () => verifyInclusion(index, size, leaf, flipped(proof, i), roots[size]!)),
        () => verifyInclusion(index, size, leaf, [...proof, proof[0] ?? leaf], roots[size]!),
        () => proof.length > 0 && verifyInclusion(index, size, leaf, proof.slice(1), roots[size]!),
        () => index + 1 < size && verifyInclusion(index + 1, size, leaf, proof, roots[size]!),
        () => verifyInclusion(index, size * 2, leaf, proof, roots[size]!),
        () => verifyInclusion(index, size, leafHash(Buffer.from('other')), proof, roots[size]!),
      ];
      for (const attempt of bad) if (attempt()) t.fail(`a corrupted inclusion proof ${index}/${size} verified`);
      refused += bad.length;
    }
    for (let old = 1; old <= size; old++) {
      const proof = consistencyProof(full, old, size);
      if (!verifyConsistency(old, size, roots[old]!, roots[size]!, proof)) t.fail(`consistency ${old}→${size}`);
      checked++;
      if (old === size) continue;
      const bad = [
        ...proof.map((_, i) => () => verifyConsistency(old, size, roots[old]!, roots[size]!, flipped(proof, i))),
        () => verifyConsistency(old, size, roots[old]!, roots[size]!, proof.slice(0, -1)),
        () => verifyConsistency(old, size, roots[old]!, roots[size]!, [...proof, roots[size]!]),
        () => verifyConsistency(old, size, roots[size]!, roots[old]!, proof),
        () => old > 1 && verifyConsistency(old - 1, size, roots[old]!, roots[size]!, proof),
      ];
      for (const attempt of bad) if (attempt()) t.fail(`a corrupted consistency proof ${old}→${size} verified`);
      refused += bad.length;
    }
  }
  t.ok(checked > 1500 && refused > 5000, `${checked} proofs verified, ${refused} corruptions refused`);
});

t.test('malformed inputs are answers, not exceptions', async (t) => {
  const root = Buffer.from(v.roots[0]!, 'hex');
  t.notOk(verifyInclusion(0, 0, root, [], root), 'empty tree');
  t.notOk(verifyInclusion(1, 1, root, [], root), 'index past the end');
  t.notOk(verifyInclusion(0, 1, Buffer.alloc(3), [], root), 'short leaf hash');
  t.notOk(verifyConsistency(2, 1, root, root, []), 'shrinking tree');
  t.notOk(verifyConsistency(1, 2, root, root, []), 'empty proof between different sizes');
  t.notOk(verifyConsistency(1, 1, root, Buffer.from(v.roots[1]!, 'hex'), []), 'same size, different roots');
});
