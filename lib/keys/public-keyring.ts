// The verifier's keyring: public keys by key id, so signatures made under a retired key keep
// verifying while its public key stays here (rotation). Loaded once at start-up.
import type { KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { DaemonError } from '../errors.js';
import { keyMismatch, type SignatureAlgorithm } from '../crypto/signature-algorithms.js';
import { keyIdOf, loadPublicKeyFile } from './key-file.js';

export interface Keyring {
  get(keyId: string): KeyObject | undefined;
  readonly keyIds: readonly string[];
}

const PUBLIC_KEY_FILE = /\.(pem|pub|crt)$/;

/** Each entry is a public-key file or a directory of them (*.pem, *.pub, *.crt). */
export function loadKeyring(entries: readonly string[], algorithm: SignatureAlgorithm): Keyring {
  const keys = new Map<string, KeyObject>();
  for (const file of entries.flatMap(expand)) {
    const key = loadPublicKeyFile(file);
    const mismatch = keyMismatch(algorithm, key);
    if (mismatch) throw new DaemonError('KEY_LOAD_FAILED', `public key ${file}: ${mismatch}`);
    keys.set(keyIdOf(key), key);
  }
  if (keys.size === 0) throw new DaemonError('KEY_LOAD_FAILED', `keyring ${entries.join(', ')}: no public keys found`);
  return { get: (keyId) => keys.get(keyId), keyIds: [...keys.keys()] };
}

function expand(entry: string): string[] {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(entry);
  } catch (err) {
    throw new DaemonError('KEY_LOAD_FAILED', `keyring entry ${entry}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`, { cause: err });
  }
  if (!stat.isDirectory()) return [entry];
  return fs
    .readdirSync(entry)
    .filter((name) => PUBLIC_KEY_FILE.test(name))
    .sort()
    .map((name) => path.join(entry, name));
}
