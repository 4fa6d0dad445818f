// RFC 6962 §2.1 Merkle tree hashing with SHA-256: the leaf hash of an entry and the hash of an
// interior node. Domain separation (0x00 leaf, 0x01 node) keeps a leaf from posing as a node.
import crypto from 'node:crypto';

export const HASH_BYTES = 32;

const LEAF_PREFIX = Buffer.from([0x00]);
const NODE_PREFIX = Buffer.from([0x01]);

export function leafHash(entry: Uint8Array): Buffer {
  return crypto.createHash('sha256').update(LEAF_PREFIX).update(entry).digest();
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  return crypto.createHash('sha256').update(NODE_PREFIX).update(left).update(right).digest();
}

/** The largest power of two strictly below n (n ≥ 2): where RFC 6962 splits a range of n leaves. */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}
