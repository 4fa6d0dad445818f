// The one core path both front ends (octez HTTP API, line protocol) call: resolve the key, check
// size, authentication, payload and policy, reserve the watermark durably, sign (the key verifies
// its own signature), and return it while the signature is recorded beside the mark for identical retries.
import { createHash } from 'node:crypto';
import { DaemonError } from '../../../lib/errors.js';
import { logSafe } from '../../../lib/protocol/encoding.js';
import type { TezosKeyConfig } from '../config/keys-config.js';
import { curveOfPublicKeyHash, publicKeyHashOf } from '../keys/key-encoding.js';
import { verifyTezosSignature } from '../keys/tezos-key.js';
import { checkAuthentication } from '../policy/authentication.js';
import { checkPolicy } from '../policy/key-policy.js';
import { TEZOS_PENDING_POLL_MS } from '../tezos-limits.js';
import { payloadDigest, rejectionMessage } from '../watermark/watermark-rule.js';
import type { RequestedMark, Slot, WatermarkStore } from '../watermark/watermark-store.js';
import { isConsensusKind, parseSignRequest, type SignRequest } from './sign-request.js';
import type { LogEvent } from '../../../lib/transparency/log-entry.js';
import { tezosSignEvent } from './signature-log.js';

/** Preattestation and attestation tags that carry a slot (before Seoul's BLS mode, tags 40 and 41). */
const SLOT_TAGS = new Set([20, 21, 23]);

/**
 * A short hash of a signature for the request log: `signerd tezos watermark audit` compares them across
 * processes (two different values for one slot would be a double signature). Signatures are public;
 * the hash only keeps the line short.
 */
function signatureFingerprint(signature: string): string {
  return createHash('sha256').update(signature).digest('hex').slice(0, 16);
}

/** A key hash as messages and log lines show it: printable, and clipped (a real one is 36 characters). */
export function shownPkh(pkh: string): string {
  return logSafe(pkh, 40);
}

export interface TezosServiceDeps {
  keys: ReadonlyMap<string, TezosKeyConfig>;
  /** Public keys of clients allowed to authenticate requests; empty: not required (unless a key has its own list). */
  authorizedKeys: readonly string[];
  marks: WatermarkStore;
  payloadBytesMax: number;
  allowListKnownKeys: boolean;
  allowProvePossession: boolean;
  /** How long an identical request waits for a concurrent signer to record its signature. */
  pendingWaitMs: number;
  /** Every signature returned is appended here first (durable before it leaves); null: no log. */
  transparencyLog: { append(event: LogEvent): Promise<number> } | null;
  /** Where a signature that could not be recorded beside its mark is reported (the reply has left by then). */
  recordFailed(fields: Record<string, unknown>): void;
}

/** What a sign request carries beside the payload: the HTTP query parameters, the line protocol's name=value words. */
export interface SignOptions {
  /** octez's signature version (0 to 3): for tz4 it picks the BLS scheme. */
  version?: number;
  /** b58 signature by an authorized client key; null when not given. */
  authentication: string | null;
}

/** A signature version as both front ends take it (`version=`): 0, 1, 2 or 3; null for anything else. */
export function parseSignatureVersion(text: string): number | null {
  return /^[0-3]$/.test(text) ? Number(text) : null;
}

export interface TezosService {
  publicKey(pkh: string): string;
  sign(pkh: string, payload: Buffer, opts: SignOptions, fields: Record<string, unknown>): Promise<string>;
  /** null when authentication is not required (octez replies `{}`). */
  authorizedKeys(): readonly string[] | null;
  /** The configured key hashes; `via: 'http'` is gated by --allow-list-known-keys as octez gates /known_keys. */
  knownKeys(via: 'http' | 'line'): string[];
  provePossession(pkh: string, overridePublicKey: string | null): Promise<string>;
  /** Resolves once every signature being recorded is recorded (or failed): before the store closes. */
  settled(): Promise<void>;
}

export function createTezosService(deps: TezosServiceDeps): TezosService {
  let refusedPayloads = 0;
  // octez lists key hashes; clients pick the first local key whose hash is listed.
  const authorizedHashes = [...new Set([...deps.authorizedKeys, ...[...deps.keys.values()].flatMap((k) => k.authorized ?? [])])]
    .map((pk) => publicKeyHashOf(pk))
    .filter((pkh): pkh is string => pkh !== null);

  function keyOf(pkh: string): TezosKeyConfig {
    const entry = deps.keys.get(pkh);
    if (entry) return entry;
    // octez answers a key hash that does not parse with 400 and a well-formed unknown one with 404.
    if (curveOfPublicKeyHash(pkh) === null) throw new DaemonError('BAD_REQUEST', `${shownPkh(pkh)} is not a tz1/tz2/tz3/tz4 key hash`);
    throw new DaemonError('UNKNOWN_KEY', `no key ${shownPkh(pkh)} is configured`);
  }

  function parse(payload: Buffer, fields: Record<string, unknown>): SignRequest {
    try {
      return parseSignRequest(payload);
    } catch (err) {
      // Unknown magic bytes and consensus tags are counted, so an operator sees a misbehaving client.
      if (err instanceof DaemonError && err.code === 'NOT_ALLOWED') fields['refusedPayloads'] = ++refusedPayloads;
      throw err;
    }
  }

  async function sign(pkh: string, payload: Buffer, opts: SignOptions, fields: Record<string, unknown>): Promise<string> {
    fields['pkh'] = shownPkh(pkh);
    const entry = keyOf(pkh);
    // Signature version 0 predates BLS: octez fails with these words and Signatory refuses too. Refused
    // before anything else, so that a request no signer would serve never reserves a watermark.
    if (opts.version === 0 && curveOfPublicKeyHash(entry.pkh) === 'bls12-381') {
      throw new DaemonError('BAD_REQUEST', 'Failed to handle secret key in Signature version 0 (tz4 keys sign with version 1, 2 or 3)');
    }
    fields['bytes'] = payload.length;
    if (payload.length > deps.payloadBytesMax)
      throw new DaemonError('PAYLOAD_TOO_LARGE', `payload of ${payload.length} bytes is over the maximum of ${deps.payloadBytesMax}`);
    if (payload.length === 0) throw new DaemonError('BAD_REQUEST', 'empty payload');
    const authorized = entry.authorized ?? deps.authorizedKeys;
    if (authorized.length > 0) checkAuthentication([...authorized], pkh, payload, opts.authentication);
    const request = parse(payload, fields);
    // blockLevel, not level: pino's own `level` (info, warn) is in the same record, and a JSON reader keeps the last.
    Object.assign(fields, { kind: request.kind, ...(request.level !== null ? { blockLevel: request.level, round: request.round } : {}) });
    // 0x04 is the authentication envelope: a managed key must never sign one, whatever the policy says.
    if (request.kind === 'authenticated')
      throw new DaemonError('NOT_ALLOWED', 'refusing to sign an authentication request (magic byte 0x04) with a managed key');
    checkPolicy(entry.policy, request);
    // tz4 and the consensus tags with a slot (20, 21, 23) go with signature version 1 (AUG, Rio and
    // before); from Seoul on, tz4 signs tags 40/41 with POP. The other pairing no protocol accepts:
    // refused before a watermark is reserved (tezos.md 2.6).
    if (request.consensusTag !== null && SLOT_TAGS.has(request.consensusTag) && opts.version !== 1 && curveOfPublicKeyHash(entry.pkh) === 'bls12-381') {
      throw new DaemonError(
        'NOT_ALLOWED',
        `consensus tag ${request.consensusTag} carries a slot: a tz4 key signs it only with version=1 (Rio and earlier); from Seoul on it signs tags 40 and 41`,
      );
    }
    const signOpts = opts.version === undefined ? {} : { version: opts.version };
    const logged = async (signature: string): Promise<string> => {
      if (deps.transparencyLog) fields['logIndex'] = await deps.transparencyLog.append(tezosSignEvent(entry, payload, signature, request, opts.version));
      return signature;
    };
    if (!isConsensusKind(request.kind)) {
      fields['watermark'] = 'none';
      return logged(await entry.key.sign(payload, signOpts));
    }
    if (request.chainId === null || request.level === null) throw new DaemonError('BAD_REQUEST', `${request.kind} without chain id or level`);
    const slot: Slot = { chainId: request.chainId, pkh: entry.pkh, kind: request.kind };
    const mark: RequestedMark = { level: request.level, round: request.round ?? 0, digest: payloadDigest(payload) };
    return signMarked(entry, slot, mark, payload, signOpts, fields, logged);
  }

  async function signMarked(
    entry: TezosKeyConfig,
    slot: Slot,
    mark: RequestedMark,
    payload: Buffer,
    signOpts: { version?: number },
    fields: Record<string, unknown>,
    logged: (signature: string) => Promise<string>,
  ): Promise<string> {
    fields['chainId'] = slot.chainId;
    const outcome = await deps.marks.reserve(slot, mark);
    if (outcome.kind === 'rejected') throw new DaemonError('WATERMARK_REJECTED', rejectionMessage(slot, mark, outcome.stored));
    if (outcome.kind === 'same') {
      fields['watermark'] = 'replay';
      const stored = outcome.signature ?? (await awaitRecorded(slot, mark));
      // The stored signature is returned only if it is right for these bytes and this version.
      if (!verifyTezosSignature(entry.key.publicKey, payload, stored, signOpts)) {
        // For tz4 the usual cause is a request for the other signature version; otherwise the stored
        // signature is not this key's over these bytes (an imported or edited mark).
        const why = entry.key.curve === 'bls12-381' ? 'with another signature version' : 'but the stored signature does not verify for them';
        throw new DaemonError(
          'WATERMARK_REJECTED',
          `${slot.kind} level ${mark.level} and round ${mark.round} already signed these bytes ${why}; not signing twice`,
        );
      }
      fields['signed'] = signatureFingerprint(stored);
      // A replay leaves the daemon too: logged (again, or for the first time after a log outage).
      return logged(stored);
    }
    fields['watermark'] = 'advanced';
    // A failure from here on loses this slot, which is the safe direction.
    const signature = await entry.key.sign(payload, signOpts);
    fields['signed'] = signatureFingerprint(signature);
    record(slot, mark, signature);
    // The reply does not wait for the record: the mark that forbids a second signature is already
    // durable, and the record only serves identical retries, which wait for it (awaitRecorded). A
    // shared store's second quorum write would otherwise double a baker's latency. If the log is
    // out, the baker's retry of the same bytes is a replay, which logs the stored signature before
    // returning it, so the slot is not lost.
    return logged(signature);
  }

  const recording = new Set<Promise<void>>();

  function record(slot: Slot, mark: RequestedMark, signature: string): void {
    const done: Promise<void> = deps.marks
      .recordSignature(slot, mark, signature)
      .catch((err: unknown) => {
        // The mark is durable, so the signature stands: an identical retry gets 409, never a second signature.
        deps.recordFailed({ pkh: slot.pkh, chainId: slot.chainId, kind: slot.kind, blockLevel: mark.level, round: mark.round, err: (err as Error).message });
      })
      .finally(() => recording.delete(done));
    recording.add(done);
  }

  /** Another request (maybe another process) reserved these exact bytes and is signing: wait for its signature. */
  async function awaitRecorded(slot: Slot, mark: RequestedMark): Promise<string> {
    const deadline = Date.now() + deps.pendingWaitMs;
    for (;;) {
      const stored = await deps.marks.read(slot);
      if (stored === null || stored.level !== mark.level || stored.round !== mark.round || stored.digest !== mark.digest) {
        throw new DaemonError('WATERMARK_REJECTED', `${slot.kind} level ${mark.level} and round ${mark.round}: the high watermark moved on while waiting`);
      }
      if (stored.signature !== null) return stored.signature;
      if (Date.now() >= deadline) {
        throw new DaemonError(
          'WATERMARK_REJECTED',
          `${slot.kind} level ${mark.level} and round ${mark.round} for ${slot.pkh} is reserved but no signature was recorded (signing in progress or interrupted); not signing twice`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, TEZOS_PENDING_POLL_MS));
    }
  }

  return {
    publicKey: (pkh) => keyOf(pkh).key.publicKey,
    settled: async () => {
      await Promise.all([...recording]);
    },
    sign,
    authorizedKeys: () => (authorizedHashes.length > 0 ? authorizedHashes : null),
    knownKeys(via) {
      if (via === 'http' && !deps.allowListKnownKeys)
        throw new DaemonError('NOT_ALLOWED', 'List known keys request not allowed. (GET /known_keys needs --allow-list-known-keys)');
      return [...deps.keys.keys()];
    },
    async provePossession(pkh, overridePublicKey) {
      if (!deps.allowProvePossession) throw new DaemonError('NOT_ALLOWED', 'Request to prove possession is not allowed. (needs --allow-to-prove-possession)');
      const key = keyOf(pkh).key;
      if (!key.provePossession) throw new DaemonError('BAD_REQUEST', `${shownPkh(pkh)} is not a BLS (tz4) key`);
      return overridePublicKey === null ? key.provePossession() : key.provePossession(overridePublicKey);
    },
  };
}
