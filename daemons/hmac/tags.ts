// Tags for a message's chunks under one secret set, and their verification: the public index
// is MurmurHash3 of each chunk (as the seed computed it), compared in constant time.
import crypto from 'node:crypto';
import { murmur3x86_32 } from './murmur3.js';
import { TAG_BYTES, keyIdFor, type SecretSet } from './secret-set.js';

export interface ChunkTag {
  tag: Buffer;
  keyId: string;
}

/**
 * One tag per chunk under `version` (the set's current version unless given): at once when the set
 * holds its secrets in memory, a promise when a token or a file must be read.
 */
export function tagChunks(set: SecretSet, chunks: readonly Buffer[], version: number = set.versions[0]!): ChunkTag[] | Promise<ChunkTag[]> {
  // All chunk MACs start in this call, so a SIGHUP swap cannot split one request across two sets.
  const keyIds: string[] = [];
  const tags: (Buffer | Promise<Buffer>)[] = [];
  let waiting = false;
  for (const data of chunks) {
    const index = murmur3x86_32(data);
    keyIds.push(keyIdFor(set.mode, index, version));
    const tag = set.mac(data, index, version);
    if (tag instanceof Promise) waiting = true;
    tags.push(tag);
  }
  const named = (done: readonly Buffer[]): ChunkTag[] => done.map((tag, i) => ({ tag, keyId: keyIds[i]! }));
  return waiting ? Promise.all(tags.map((tag) => Promise.resolve(tag))).then(named) : named(tags as Buffer[]);
}

export type TagVerdict = { valid: true; version: number } | { valid: false; reason: 'wrong-length' | 'mismatch' };

/**
 * `given` holds one 32-byte tag per chunk, concatenated. Wrong length is invalid (the length is
 * public); otherwise every accepted version is tried, each compared with timingSafeEqual. At once
 * when the set holds its secrets in memory, as tagChunks.
 */
export function verifyChunks(set: SecretSet, chunks: readonly Buffer[], given: Buffer): TagVerdict | Promise<TagVerdict> {
  if (given.length !== chunks.length * TAG_BYTES) return { valid: false, reason: 'wrong-length' };
  const joined = (tags: readonly ChunkTag[]): Buffer => Buffer.concat(tags.map((t) => t.tag));
  const perVersion = set.versions.map((version) => {
    const tags = tagChunks(set, chunks, version);
    return tags instanceof Promise ? tags.then(joined) : joined(tags);
  });
  const verdict = (expected: readonly Buffer[]): TagVerdict => {
    let match: number | null = null;
    // No early exit: every version is compared, so timing does not tell which version matched.
    expected.forEach((tags, i) => {
      if (crypto.timingSafeEqual(tags, given) && match === null) match = set.versions[i]!;
    });
    return match === null ? { valid: false, reason: 'mismatch' } : { valid: true, version: match };
  };
  return perVersion.some((e) => e instanceof Promise) ? Promise.all(perVersion.map((e) => Promise.resolve(e))).then(verdict) : verdict(perVersion as Buffer[]);
}
