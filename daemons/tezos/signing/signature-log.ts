// What the tezos daemon writes to the transparency log: a sign entry for every signature it returns
// (the exact bytes' SHA-256, the raw signature, kind, chain, level, round) and a key-loaded entry per key.
import crypto from 'node:crypto';
import { DaemonError } from '../../../lib/errors.js';
import type { LogEvent } from '../../../lib/transparency/log-entry.js';
import type { TezosKeyConfig } from '../config/keys-config.js';
import { usesAugScheme } from '../keys/bls-signature.js';
import { decodePublicKey, decodeSignature } from '../keys/key-encoding.js';
import type { TezosKey } from '../keys/tezos-key.js';
import type { SignRequest } from './sign-request.js';

const SOURCE = 'tezos';

/** The signature scheme: the curve, and for tz4 which BLS scheme the signature version picked. */
function algorithmOf(key: TezosKey, version: number | undefined): string {
  if (key.curve !== 'bls12-381') return key.curve;
  return usesAugScheme(version) ? 'bls12-381-aug' : 'bls12-381-pop';
}

export function tezosSignEvent(entry: TezosKeyConfig, payload: Buffer, signature: string, request: SignRequest, version: number | undefined): LogEvent {
  const raw = decodeSignature(entry.key.curve, signature);
  // The key produced and verified this signature, so it always decodes.
  if (raw === null) throw new DaemonError('INTERNAL', `a ${entry.key.curve} signature did not decode`);
  return {
    kind: 'sign',
    source: SOURCE,
    keyId: entry.pkh,
    algorithm: algorithmOf(entry.key, version),
    messageSha256: crypto.createHash('sha256').update(payload).digest(),
    signature: raw,
    tezos: {
      requestKind: request.kind,
      ...(request.chainId === null ? {} : { chainId: request.chainId }),
      ...(request.level === null ? {} : { level: request.level, round: request.round ?? 0 }),
    },
  };
}

/** One entry per configured key: its hash, curve, where it is held and its public key bytes (as in its edpk…/sppk…/p2pk…/BLpk… form). */
export function tezosKeyLoadedEvents(keys: Iterable<TezosKeyConfig>): LogEvent[] {
  return [...keys].map((entry) => {
    const publicKey = decodePublicKey(entry.key.publicKey);
    return {
      kind: 'key-loaded',
      source: SOURCE,
      keyId: entry.pkh,
      algorithm: entry.key.curve,
      // HSM keys hold token sessions and close them; keys from keys.json or secret files do not.
      backend: 'close' in entry.key ? 'pkcs11' : 'file',
      ...(publicKey === null ? {} : { publicKey: publicKey.bytes }),
    };
  });
}
