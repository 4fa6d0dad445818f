// Base58check (the Bitcoin alphabet, a 4-byte double-SHA-256 checksum) on @scure/base: Tezos keys and
// signatures are written this way, and `signerd log bundle` accepts a signature in either form.
import { sha256 } from '@noble/hashes/sha2.js';
import { createBase58check } from '@scure/base';
import { BASE58_TEXT_CHARS_MAX } from '../limits.js';

const base58check = createBase58check(sha256);

/** base58(body ‖ checksum); the body holds any version prefix. */
export function base58CheckEncode(body: Uint8Array): string {
  return base58check.encode(body);
}

/** The prefixed body of base58check text whose checksum holds, else null (also for text over the length bound). */
export function base58CheckBody(text: string): Buffer | null {
  if (text.length === 0 || text.length > BASE58_TEXT_CHARS_MAX) return null;
  let body: Uint8Array;
  try {
    body = base58check.decode(text);
  } catch {
    // A character outside the alphabet, too few bytes for a checksum, or a checksum that does not hold.
    return null;
  }
  return body.length === 0 ? null : Buffer.from(body);
}
