// Tags for a message's chunks under one secret set, and their verification: the public index
// is MurmurHash3 of each chunk (as the seed computed it), compared in constant time.
import crypto from 'node:crypto';
import { murmur3x86_32 } from './murmur3.js';
import { TAG_BYTES, keyIdFor, type SecretSet } from './secret-set.js';
import { allNowOrLater, thenNowOrLater, type NowOrLater } from './now-or-later.js';

export interface ChunkTag {
  tag: Buffer;
  keyId: string;
}

/**
 * One tag per chunk under `version` (the set's current version unless given): at once when the set
 * holds its secrets in memory, a promise when a token or a file must be read.
 */
export function tagChunks(set: SecretSet, chunks: readonly Buffer[], version: number = set.versions[0]!): NowOrLater<ChunkTag[]> {
  // All chunk MACs start in this call, so a SIGHUP swap cannot split one request across two sets.
  const keyIds: string[] = [];
  const tags = chunks.map((data) => {
    const index = murmur3x86_32(data);
    keyIds.push(keyIdFor(set.mode, index, version));
    return set.mac(data, index, version);
  });
  return thenNowOrLater(allNowOrLater(tags), (done) => done.map((tag, i) => ({ tag, keyId: keyIds[i]! })));
}

export type TagVerdict = { valid: true; version: number } | { valid: false; reason: 'wrong-length' | 'mismatch' };

/**
 * `given` holds one 32-byte tag per chunk, concatenated. Wrong length is invalid (the length is
 * public); otherwise every accepted version is tried, each compared with timingSafeEqual. At once
 * when the set holds its secrets in memory, as tagChunks.
 */
export function verifyChunks(set: SecretSet, chunks: readonly Buffer[], given: Buffer): NowOrLater<TagVerdict> {
  if (given.length !== chunks.length * TAG_BYTES) return { valid: false, reason: 'wrong-length' };
  const perVersion = set.versions.map((version) => thenNowOrLater(tagChunks(set, chunks, version), (tags) => Buffer.concat(tags.map((t) => t.tag))));
  return thenNowOrLater(allNowOrLater(perVersion), (expected) => {
    let match: number | null = null;
    // No early exit: every version is compared, so timing does not tell which version matched.
    expected.forEach((tags, i) => {
      if (crypto.timingSafeEqual(tags, given) && match === null) match = set.versions[i]!;
    });
    return match === null ? { valid: false, reason: 'mismatch' } : { valid: true, version: match };
  });
}
