// Chooses where a daemon's signing key lives from its --key value: a `pkcs11:` URI opens an HSM key,
// anything else is a PEM file. One exhaustive switch, so a new backend cannot be half-wired; a
// backend's code loads only when chosen.
import type { Logger } from 'pino';
import type { SignatureAlgorithm } from '../crypto/signature-algorithms.js';
import { loadFileSigningKey, type SigningKey } from './signing-key.js';
import { isPkcs11Uri } from './pkcs11-uri.js';

export type KeySource = { kind: 'pkcs11'; uri: string } | { kind: 'file'; path: string };

export interface OpenKeyDeps {
  /** Deadline of one key-backend call (lib/limits.ts backendCallMsMax). */
  callMsMax: number;
  log?: Logger;
}

export function keySourceOf(ref: string): KeySource {
  return isPkcs11Uri(ref) ? { kind: 'pkcs11', uri: ref } : { kind: 'file', path: ref };
}

export async function openSigningKey(ref: string, algorithm: SignatureAlgorithm, deps: OpenKeyDeps): Promise<SigningKey> {
  const source = keySourceOf(ref);
  switch (source.kind) {
    case 'pkcs11': {
      // Loaded only for an HSM key: the PKCS#11 module and its checks are not a file key's business.
      const { openPkcs11SigningKey } = await import('./pkcs11-signing-key.js');
      return openPkcs11SigningKey(source.uri, algorithm, { callMsMax: deps.callMsMax, log: deps.log });
    }
    case 'file':
      return loadFileSigningKey(source.path, algorithm);
    default:
      return unreachable(source);
  }
}

function unreachable(source: never): never {
  throw new Error(`unknown key source ${JSON.stringify(source)}`);
}
