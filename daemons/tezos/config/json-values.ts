// Checks on values read from keys.json (objects, lists of strings); every failure is CONFIG_INVALID
// naming the file and field, so an operator finds the line to fix, and no message quotes what may be a secret key.
import { DaemonError } from '../../../lib/errors.js';
import { decodePublicKey, publicKeyHashBytes } from '../keys/key-encoding.js';
import { SECRET_KEY_PREFIXES } from '../keys/secret-key-text.js';

export function invalid(where: string, text: string): DaemonError {
  return new DaemonError('CONFIG_INVALID', `${where}: ${text}`);
}

export function asObject(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(where, 'expected an object');
  return value as Record<string, unknown>;
}

export function stringList(value: unknown, where: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw invalid(where, 'expected a list of strings');
  return value;
}

/** A secret key's start (any case: a mistyped one is still one), or a run of b58 as long as a key's middle. */
const SECRET_LIKE = new RegExp(`^(${SECRET_KEY_PREFIXES.join('|')})|[1-9A-HJ-NP-Za-km-z]{20,}`, 'i');

/**
 * Text a message may quote whole: a key hash or public key (public by design), or a short word that
 * cannot be part of a secret key. Anything else (a secret key, octez's `unencrypted:edsk…`, a mistyped
 * key) may be key material, typed into the wrong field: messages and logs name it by its first 4 characters.
 */
export function shown(text: string): string {
  if (publicKeyHashBytes(text) !== null || decodePublicKey(text) !== null) return text;
  return text.length <= 32 && !SECRET_LIKE.test(text) ? text : `${text.slice(0, 4)}…`;
}
