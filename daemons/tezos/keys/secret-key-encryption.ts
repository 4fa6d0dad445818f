// Octez encrypted secret keys (edesk/spesk/p2esk/BLesk): salt(8) ‖ NaCl secretbox(sk) under
// PBKDF2-HMAC-SHA512(passphrase, salt, 32768 rounds, 32 bytes) with an all-zero nonce (octez client_keys).
import crypto from 'node:crypto';
import { secretbox } from '@noble/ciphers/salsa.js';

const SALT_BYTES = 8;
const PBKDF2_ROUNDS = 32768;
const KEY_BYTES = 32;
const NONCE = new Uint8Array(24);

function boxKey(passphrase: Buffer, salt: Buffer): Uint8Array {
  return crypto.pbkdf2Sync(passphrase, salt, PBKDF2_ROUNDS, KEY_BYTES, 'sha512');
}

/** The plain secret, or null when the passphrase is wrong (the box's MAC fails). */
export function decryptSecretKey(encrypted: Buffer, passphrase: Buffer): Buffer | null {
  if (encrypted.length <= SALT_BYTES) return null;
  const key = boxKey(passphrase, encrypted.subarray(0, SALT_BYTES));
  try {
    return Buffer.from(secretbox(key, NONCE).open(encrypted.subarray(SALT_BYTES)));
  } catch {
    return null;
  } finally {
    key.fill(0);
  }
}

export function encryptSecretKey(secret: Buffer, passphrase: Buffer): Buffer {
  const salt = crypto.randomBytes(SALT_BYTES);
  const key = boxKey(passphrase, salt);
  try {
    return Buffer.concat([salt, secretbox(key, NONCE).seal(secret)]);
  } finally {
    key.fill(0);
  }
}
