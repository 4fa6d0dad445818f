// Tags for a message's chunks under one secret set, and their verification: the public index
// is MurmurHash3 of each chunk (as the seed computed it), compared in constant time.
import crypto from 'node:crypto';
import { murmur3x86_32 } from './murmur3.js';
import { TAG_BYTES, keyIdFor, type SecretSet } from './secret-set.js';

export interface ChunkTag {
  tag: Buffer;
  keyId: string;
}

/** One tag per chunk under `version` (the set's current version unless given). */
export async function tagChunks(set: SecretSet, chunks: readonly Buffer[], version: number = set.versions[0]!): Promise<ChunkTag[]> {
  const tags: ChunkTag[] = [];
  // All chunk MACs start in this tick, so a SIGHUP swap cannot split one request across two sets.
  const pending = chunks.map((data) => {
    const index = murmur3x86_32(data);
    return { keyId: keyIdFor(set.mode, index, version), tag: set.mac(data, index, version) };
  });
  for (const { keyId, tag } of pending) tags.push({ keyId, tag: await tag });
  return tags;
}

export type TagVerdict = { valid: true; version: number } | { valid: false; reason: 'wrong-length' | 'mismatch' };

/**
 * `given` holds one 32-byte tag per chunk, concatenated. Wrong length is invalid (the length is
 * public); otherwise every accepted version is tried, each compared with timingSafeEqual.
 */
export async function verifyChunks(set: SecretSet, chunks: readonly Buffer[], given: Buffer): Promise<TagVerdict> {
  if (given.length !== chunks.length * TAG_BYTES) return { valid: false, reason: 'wrong-length' };
  const expected = await Promise.all(set.versions.map(async (version) => Buffer.concat((await tagChunks(set, chunks, version)).map((t) => t.tag))));
  let match: number | null = null;
  // No early exit: every version is compared, so timing does not tell which version matched.
  expected.forEach((tags, i) => {
    if (crypto.timingSafeEqual(tags, given) && match === null) match = set.versions[i]!;
  });
  return match === null ? { valid: false, reason: 'mismatch' } : { valid: true, version: match };
}
