// Decodes the contents of a 0x03 generic operation (octez operation_repr.ml) far enough to name each
// operation for policy: manager operations, ballots, proposals, drain_delegate, failing_noop, and the
// Signatory-style pseudo-operations (stake, unstake, ...). Anything not understood is refused.
import { DaemonError } from '../../../lib/errors.js';
import { byteReader, type ByteReader } from './byte-reader.js';

export const BALLOT_VOTES = ['yay', 'nay', 'pass'] as const;
export type BallotValue = (typeof BALLOT_VOTES)[number];

/** The tag of each manager operation (they carry a manager header and may be batched). */
const MANAGER_TAGS = {
  107: 'reveal',
  108: 'transaction',
  109: 'origination',
  110: 'delegation',
  111: 'register_global_constant',
  112: 'set_deposits_limit',
  114: 'update_consensus_key',
  115: 'update_companion_key',
} as const;
type ManagerOperation = (typeof MANAGER_TAGS)[keyof typeof MANAGER_TAGS];
/** Transactions to oneself with these entrypoint tags are Signatory's staking pseudo-operations. */
const PSEUDO_ENTRYPOINTS = { 6: 'stake', 7: 'unstake', 8: 'finalize_unstake', 9: 'set_delegate_parameters' } as const;
type PseudoOperation = (typeof PSEUDO_ENTRYPOINTS)[keyof typeof PSEUDO_ENTRYPOINTS];
/** The non-manager operations this decoder reads. */
type OtherOperation = 'ballot' | 'proposals' | 'drain_delegate' | 'failing_noop';
export type OperationName = ManagerOperation | PseudoOperation | OtherOperation;

const MANAGER_NAMES: readonly OperationName[] = [...Object.values(MANAGER_TAGS), ...Object.values(PSEUDO_ENTRYPOINTS)];
/** Every name this decoder gives an operation, which is what a policy's `generic` list may name. */
export const OPERATION_NAMES: readonly OperationName[] = [...MANAGER_NAMES, 'ballot', 'proposals', 'drain_delegate', 'failing_noop'];

export interface OperationSummary {
  /** One name per content, in order. */
  kinds: OperationName[];
  /** The vote of each ballot, in order. */
  ballots: BallotValue[];
}

const PUBLIC_KEY_BYTES: Readonly<Record<number, number>> = { 0: 32, 1: 33, 2: 33, 3: 48 };
/** Manager operations whose layout is not parsed, so they could hide other operations in a batch. */
const UNPARSED_MANAGER_TAGS: Readonly<Record<number, string>> = {
  113: 'increase_paid_storage',
  158: 'transfer_ticket',
  200: 'smart_rollup_originate',
  201: 'smart_rollup_add_messages',
  202: 'smart_rollup_cement',
  203: 'smart_rollup_publish',
  204: 'smart_rollup_refute',
  205: 'smart_rollup_timeout',
  206: 'smart_rollup_execute_outbox_message',
  207: 'smart_rollup_recover_bond',
  230: 'dal_publish_commitment',
  250: 'zk_rollup_origination',
  251: 'zk_rollup_publish',
  252: 'zk_rollup_update',
};
/** Their names, which a policy may not allow (config/policy-config.ts says why). */
export const UNPARSED_OPERATION_NAMES: ReadonlySet<string> = new Set(Object.values(UNPARSED_MANAGER_TAGS));
/** Known tags we refuse to sign: anonymous operations, consensus content, the unparsed ones, and reserved tags. */
const REFUSED_TAGS: Readonly<Record<number, string>> = {
  1: 'seed_nonce_revelation',
  2: 'double_consensus_operation_evidence',
  3: 'double_baking_evidence',
  4: 'activate_account',
  7: 'double_preattestation_evidence',
  8: 'vdf_revelation',
  20: 'preattestation',
  21: 'attestation',
  23: 'attestation_with_dal',
  24: 'dal_entrapment_evidence',
  30: 'preattestations_aggregate',
  31: 'attestations_aggregate',
  40: 'preattestation',
  41: 'attestation',
  ...UNPARSED_MANAGER_TAGS,
  255: 'signature_prefix',
};

/** `body` is everything after the 32-byte branch. */
export function summarizeOperations(body: Buffer): OperationSummary {
  const r = byteReader(body);
  const summary: OperationSummary = { kinds: [], ballots: [] };
  if (r.remaining() === 0) throw new DaemonError('BAD_REQUEST', 'generic operation without contents');
  while (r.remaining() > 0) {
    const tag = r.u8('operation tag');
    summary.kinds.push(readContent(r, tag, summary));
  }
  const managers = summary.kinds.length > 1;
  if (managers && summary.kinds.some((_, i) => !isManagerKind(summary, i))) {
    throw new DaemonError('BAD_REQUEST', 'only manager operations may be batched');
  }
  return summary;
}

function isManagerKind(summary: OperationSummary, i: number): boolean {
  const kind = summary.kinds[i];
  return kind !== undefined && MANAGER_NAMES.includes(kind);
}

function readContent(r: ByteReader, tag: number, summary: OperationSummary): OperationName {
  switch (tag) {
    case 5: // proposals
      r.bytes(21, 'proposals source');
      r.i32('proposals period');
      if (r.lengthPrefixed('proposals list').length % 32 !== 0) throw new DaemonError('BAD_REQUEST', 'proposals list is not a list of protocol hashes');
      return 'proposals';
    case 6: {
      r.bytes(21, 'ballot source');
      r.i32('ballot period');
      r.bytes(32, 'ballot proposal');
      const vote = BALLOT_VOTES[r.u8('ballot value')];
      if (vote === undefined) throw new DaemonError('BAD_REQUEST', 'ballot value is not yay, nay or pass');
      summary.ballots.push(vote);
      return 'ballot';
    }
    case 9:
      r.bytes(63, 'drain_delegate keys');
      return 'drain_delegate';
    case 17:
      r.lengthPrefixed('failing_noop message');
      return 'failing_noop';
    default:
      return readManager(r, tag);
  }
}

function readManager(r: ByteReader, tag: number): OperationName {
  const name = (MANAGER_TAGS as Readonly<Record<number, ManagerOperation>>)[tag];
  if (name === undefined) {
    const known = REFUSED_TAGS[tag];
    throw new DaemonError(
      'NOT_ALLOWED',
      known ? `operation ${known} (tag ${tag}) is never signed by this signer` : `unknown operation tag ${tag}; refusing to sign what cannot be checked`,
    );
  }
  const source = Buffer.from(r.bytes(21, `${name} source`));
  for (const field of ['fee', 'counter', 'gas_limit', 'storage_limit']) r.zarith(`${name} ${field}`);
  switch (tag) {
    case 107:
    case 114:
    case 115:
      readPublicKey(r, name);
      if (r.flag(`${name} proof presence`)) r.lengthPrefixed(`${name} proof`);
      return name;
    case 108:
      return readTransaction(r, source);
    case 109:
      r.zarith('origination balance');
      if (r.flag('origination delegate presence')) r.bytes(21, 'origination delegate');
      r.lengthPrefixed('origination code');
      r.lengthPrefixed('origination storage');
      return name;
    case 110:
      if (r.flag('delegation delegate presence')) r.bytes(21, 'delegation delegate');
      return name;
    case 111:
      r.lengthPrefixed('register_global_constant value');
      return name;
    default: // 112 set_deposits_limit
      if (r.flag('set_deposits_limit presence')) r.zarith('set_deposits_limit limit');
      return name;
  }
}

function readPublicKey(r: ByteReader, name: string): void {
  const tag = r.u8(`${name} public key tag`);
  const length = PUBLIC_KEY_BYTES[tag];
  if (length === undefined) throw new DaemonError('BAD_REQUEST', `${name}: unknown public key tag ${tag}`);
  r.bytes(length, `${name} public key`);
}

function readTransaction(r: ByteReader, source: Buffer): OperationName {
  r.zarith('transaction amount');
  const destination = r.bytes(22, 'transaction destination');
  if (!r.flag('transaction parameters presence')) return 'transaction';
  const entrypoint = r.u8('transaction entrypoint');
  if (entrypoint === 0xff) {
    const length = r.u8('transaction entrypoint name length');
    if (length > 31) throw new DaemonError('BAD_REQUEST', 'entrypoint name longer than 31 bytes');
    r.bytes(length, 'transaction entrypoint name');
  } else if (entrypoint > 9) {
    throw new DaemonError('BAD_REQUEST', `unknown entrypoint tag ${entrypoint}`);
  }
  r.lengthPrefixed('transaction parameters');
  const toSelf = destination[0] === 0x00 && destination.subarray(1).equals(source);
  return (toSelf && (PSEUDO_ENTRYPOINTS as Readonly<Record<number, PseudoOperation>>)[entrypoint]) || 'transaction';
}
