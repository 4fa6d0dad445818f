// Tree hashes and proofs (RFC 6962 §2.1: MTH, PATH, SUBPROOF) computed from stored subtree hashes.
// Whatever holds the hashes (the sequencer's database, published tiles) is a NodeSource.
import { nodeHash, splitPoint } from './merkle-hash.js';

/**
 * The hash of the complete subtree of 2^level leaves starting at leaf index × 2^level. Only
 * complete subtrees inside the tree being proven are ever asked for.
 */
export interface NodeSource {
  node(level: number, index: number): Buffer;
}

/** log2 of n when n is a power of two, else -1. */
function exactLog2(n: number): number {
  let level = 0;
  let k = 1;
  while (k < n) {
    k *= 2;
    level++;
  }
  return k === n ? level : -1;
}

/** MTH(D[lo:hi]) for a range the RFC 6962 recursion produces (lo aligned to the range's split). */
function rangeHash(src: NodeSource, lo: number, hi: number): Buffer {
  const n = hi - lo;
  if (n < 1) throw new RangeError(`empty range ${lo}..${hi}`);
  const level = exactLog2(n);
  if (level >= 0 && lo % n === 0) return src.node(level, lo / n);
  const k = splitPoint(n);
  return nodeHash(rangeHash(src, lo, lo + k), rangeHash(src, lo + k, hi));
}

export function rootHash(src: NodeSource, size: number): Buffer {
  return rangeHash(src, 0, size);
}

/** The audit path of leaf `index` in the tree of `size` leaves, the leaf's sibling first (RFC 6962 PATH). */
export function inclusionProof(src: NodeSource, index: number, size: number): Buffer[] {
  if (!(index >= 0 && index < size)) throw new RangeError(`index ${index} is not in a tree of ${size}`);
  const path: Buffer[] = [];
  const walk = (m: number, lo: number, hi: number): void => {
    if (hi - lo === 1) return;
    const k = splitPoint(hi - lo);
    if (m < k) {
      walk(m, lo, lo + k);
      path.push(rangeHash(src, lo + k, hi));
    } else {
      walk(m - k, lo + k, hi);
      path.push(rangeHash(src, lo, lo + k));
    }
  };
  walk(index, 0, size);
  return path;
}

/** The proof that the tree of `oldSize` leaves is a prefix of the tree of `newSize` (RFC 6962 SUBPROOF). */
export function consistencyProof(src: NodeSource, oldSize: number, newSize: number): Buffer[] {
  if (!(oldSize >= 1 && oldSize <= newSize)) throw new RangeError(`no consistency proof from ${oldSize} to ${newSize}`);
  const proof: Buffer[] = [];
  const sub = (m: number, lo: number, hi: number, complete: boolean): void => {
    const n = hi - lo;
    if (m === n) {
      if (!complete) proof.push(rangeHash(src, lo, hi));
      return;
    }
    const k = splitPoint(n);
    if (m <= k) {
      sub(m, lo, lo + k, complete);
      proof.push(rangeHash(src, lo + k, hi));
    } else {
      sub(m - k, lo + k, hi, false);
      proof.push(rangeHash(src, lo, lo + k));
    }
  };
  sub(oldSize, 0, newSize, true);
  return proof;
}
