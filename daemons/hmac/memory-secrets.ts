// The seed's in-memory modes: `single` (one 32-byte `<dir>/secret`) and `mode16` (`<dir>/0000`,
// 65,536 keys of 32 bytes, 2 MiB). Read once, size-checked, kept in memory; HMAC is synchronous.
import crypto from 'node:crypto';
import path from 'node:path';
import { DaemonError } from '../../lib/errors.js';
import { readSecretFile } from '../../lib/keys/key-file.js';
import { KEY_BYTES, TABLE_BYTES, UNVERSIONED, type SecretSet } from './secret-set.js';

/** Whether a 32-byte key is all zero bytes: what a truncated file or a `truncate -s` placeholder holds. */
export function isZeroKey(key: Buffer): boolean {
  for (const b of key) if (b !== 0) return false;
  return true;
}

/**
 * Reads a secret file of exactly `bytes` bytes (one key, or a table of 32-byte keys); no key in it may
 * be all zero bytes: a tag under the all-zero key is one anybody can make, and the key index is public.
 */
export function readSizedSecret(file: string, bytes: number, what: string): Buffer {
  const data = readSecretFile(file, what, bytes);
  if (data.length !== bytes) {
    const size = data.length;
    data.fill(0);
    throw new DaemonError('KEY_LOAD_FAILED', `${what} ${file}: expected exactly ${bytes} bytes, found ${size}`);
  }
  // A truncated or `truncate -s` placeholder is zeros (65,536 checks of a 2 MiB table: under a millisecond).
  for (let at = 0; at < bytes; at += KEY_BYTES) {
    if (isZeroKey(data.subarray(at, at + KEY_BYTES))) {
      data.fill(0);
      const where = bytes === KEY_BYTES ? 'all bytes are zero' : `key ${(at / KEY_BYTES).toString(16).padStart(4, '0')} is all zero bytes`;
      throw new DaemonError('KEY_LOAD_FAILED', `${what} ${file}: ${where}; write random secrets`);
    }
  }
  return data;
}

export function loadSingleSecret(dir: string): SecretSet {
  const file = path.join(dir, 'secret');
  // A plain Buffer, not a KeyObject: createHmac is markedly faster with it, and we can zero it.
  const secret = readSizedSecret(file, KEY_BYTES, 'secret');
  let disposed = false;
  return {
    mode: 'single',
    versions: [UNVERSIONED],
    summary: { secretFile: file },
    mac(data) {
      if (disposed) throw replacedError();
      return crypto.createHmac('sha256', secret).update(data).digest();
    },
    dispose() {
      disposed = true;
      secret.fill(0);
    },
  };
}

export function loadMode16Table(dir: string): SecretSet {
  const file = path.join(dir, '0000');
  const table = readSizedSecret(file, TABLE_BYTES, 'mode16 secret table');
  let disposed = false;
  return {
    mode: 'mode16',
    versions: [UNVERSIONED],
    summary: { secretFile: file, keys: TABLE_BYTES / KEY_BYTES },
    mac(data, index) {
      if (disposed) throw replacedError();
      const offset = (index & 0xffff) * KEY_BYTES;
      return crypto
        .createHmac('sha256', table.subarray(offset, offset + KEY_BYTES))
        .update(data)
        .digest();
    },
    dispose() {
      disposed = true;
      table.fill(0);
    },
  };
}

/** HMAC-SHA256 under a per-message key that lives for this one call: the key is zeroed afterwards. */
export function hmacWithTransientKey(key: Buffer, data: Buffer): Buffer {
  try {
    return crypto.createHmac('sha256', key).update(data).digest();
  } finally {
    key.fill(0);
  }
}

/**
 * Requests take the live set once and start all their MACs in the same tick, so a replaced set
 * should never be asked for a tag; if it is, the request fails closed rather than use freed keys.
 */
export function replacedError(): DaemonError {
  return new DaemonError('BACKEND_UNAVAILABLE', 'the secrets were reloaded during this request; retry');
}
