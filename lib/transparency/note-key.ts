// Ed25519 keys in the signed-note formats (https://c2sp.org/signed-note, golang.org/x/mod/sumdb/note):
// the verifier key `<name>+<key id>+<base64(0x01 ‖ public key)>`, the private key file
// `PRIVATE+KEY+<name>+<key id>+<base64(0x01 ‖ seed)>`, and the 32-bit key id that ties them.
import crypto, { type KeyObject } from 'node:crypto';
import { DaemonError } from '../errors.js';
import { decodeBase64 } from '../protocol/encoding.js';
import { NOTE_KEY_NAME_CHARS_MAX } from '../limits.js';

/** Signature type byte of Ed25519 note signatures. */
const ED25519_NOTE_TYPE = 0x01;
const PRIVATE_PREFIX = 'PRIVATE+KEY+';
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export interface NoteVerifierKey {
  name: string;
  /** SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[0..4] as a big-endian number. */
  keyId: number;
  /** The raw 32-byte Ed25519 public key. */
  publicKey: Buffer;
}

/** Names are non-empty UTF-8 without Unicode spaces or '+', and (our bound) short. */
export function isValidKeyName(name: string): boolean {
  return name.length > 0 && name.length <= NOTE_KEY_NAME_CHARS_MAX && !/[\s+\p{Cc}]/u.test(name) && Buffer.from(name, 'utf8').toString('utf8') === name;
}

export function noteKeyId(name: string, publicKey: Uint8Array): number {
  return crypto
    .createHash('sha256')
    .update(name, 'utf8')
    .update(Buffer.from([0x0a, ED25519_NOTE_TYPE]))
    .update(publicKey)
    .digest()
    .readUInt32BE(0);
}

export function formatVerifierKey(name: string, publicKey: Uint8Array): string {
  return `${name}+${hex8(noteKeyId(name, publicKey))}+${Buffer.concat([Buffer.from([ED25519_NOTE_TYPE]), publicKey]).toString('base64')}`;
}

/** Parses a verifier key, checking its key id; BAD_REQUEST when it is not one. */
export function parseVerifierKey(text: string): NoteVerifierKey {
  const bad = (why: string): DaemonError => new DaemonError('BAD_REQUEST', `not a note verifier key (<name>+<hash>+<base64>): ${why}`);
  const split = splitKey(text.trim());
  if (!split) throw bad('expected three +-separated fields');
  const [name, hash, b64] = split;
  if (!isValidKeyName(name)) throw bad('invalid name');
  if (!/^[0-9a-f]{8}$/.test(hash)) throw bad('the hash must be 8 lowercase hex digits');
  const key = decodeBase64(b64, 'verifier key', 64);
  if (key.length !== 33 || key[0] !== ED25519_NOTE_TYPE) throw bad('only Ed25519 keys (type 0x01, 32 bytes) are supported');
  const publicKey = Buffer.from(key.subarray(1));
  const keyId = noteKeyId(name, publicKey);
  if (hex8(keyId) !== hash) throw bad('the hash does not match the name and key');
  return { name, keyId, publicKey };
}

export interface NotePrivateKey extends NoteVerifierKey {
  privateKey: KeyObject;
}

function formatPrivateKey(name: string, seed: Uint8Array): string {
  const publicKey = rawPublicKey(crypto.createPublicKey(privateKeyFromSeed(seed)));
  return `${PRIVATE_PREFIX}${name}+${hex8(noteKeyId(name, publicKey))}+${Buffer.concat([Buffer.from([ED25519_NOTE_TYPE]), seed]).toString('base64')}`;
}

/** Parses a private key file's text (never echoed: messages name the defect, not the content). */
export function parsePrivateKey(text: string, where: string): NotePrivateKey {
  const bad = (why: string): DaemonError => new DaemonError('KEY_LOAD_FAILED', `${where}: not a note private key (PRIVATE+KEY+<name>+<hash>+<base64>): ${why}`);
  const line = text.trim();
  if (!line.startsWith(PRIVATE_PREFIX)) throw bad('missing PRIVATE+KEY+ prefix');
  const split = splitKey(line.slice(PRIVATE_PREFIX.length));
  if (!split) throw bad('expected three +-separated fields after the prefix');
  const [name, hash, b64] = split;
  if (!isValidKeyName(name)) throw bad('invalid name');
  let key: Buffer;
  try {
    key = decodeBase64(b64, 'key', 64);
  } catch {
    throw bad('the key is not base64');
  }
  if (key.length !== 33 || key[0] !== ED25519_NOTE_TYPE) throw bad('only Ed25519 keys (type 0x01, 32-byte seed) are supported');
  const privateKey = privateKeyFromSeed(key.subarray(1));
  key.fill(0);
  const publicKey = rawPublicKey(crypto.createPublicKey(privateKey));
  const keyId = noteKeyId(name, publicKey);
  if (hex8(keyId) !== hash) throw bad('the hash does not match the name and key');
  return { name, keyId, publicKey, privateKey };
}

/** A fresh key: the private key file's text and the verifier key. */
export function generateNoteKey(name: string): { privateKeyText: string; verifierKey: string } {
  if (!isValidKeyName(name))
    throw new DaemonError(
      'CONFIG_INVALID',
      `log name ${JSON.stringify(name)}: must be non-empty, at most ${NOTE_KEY_NAME_CHARS_MAX} characters, without spaces or '+'`,
    );
  const { privateKey } = crypto.generateKeyPairSync('ed25519');
  const der = privateKey.export({ format: 'der', type: 'pkcs8' });
  const seed = der.subarray(der.length - 32);
  const privateKeyText = formatPrivateKey(name, seed);
  der.fill(0);
  return { privateKeyText, verifierKey: formatVerifierKey(name, rawPublicKey(crypto.createPublicKey(privateKey))) };
}

export function rawPublicKey(key: KeyObject): Buffer {
  const spki = key.export({ format: 'der', type: 'spki' });
  if (key.asymmetricKeyType !== 'ed25519' || !spki.subarray(0, ED25519_SPKI_PREFIX.length).equals(ED25519_SPKI_PREFIX))
    throw new DaemonError('KEY_LOAD_FAILED', `expected an Ed25519 key, got ${key.asymmetricKeyType}`);
  return Buffer.from(spki.subarray(ED25519_SPKI_PREFIX.length));
}

export function publicKeyObject(raw: Uint8Array): KeyObject {
  return crypto.createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

function privateKeyFromSeed(seed: Uint8Array): KeyObject {
  const der = Buffer.concat([ED25519_PKCS8_PREFIX, seed]);
  try {
    return crypto.createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } finally {
    der.fill(0);
  }
}

/** name+hash+key: names have no '+', base64 keys may. */
function splitKey(text: string): [string, string, string] | null {
  const first = text.indexOf('+');
  const second = first < 0 ? -1 : text.indexOf('+', first + 1);
  return second < 0 ? null : [text.slice(0, first), text.slice(first + 1, second), text.slice(second + 1)];
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}
