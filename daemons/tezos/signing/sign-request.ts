// Decodes the bytes a baker or wallet asks to sign: magic byte → request kind, and for consensus
// requests the chain id, level and round (block round from the fitness, attestations by content tag).
import { DaemonError } from '../../../lib/errors.js';
import { b58checkEncode } from '../keys/base58check.js';
import { byteReader, type ByteReader } from './byte-reader.js';
import { DAL_BITSET_BYTES_MAX } from '../tezos-limits.js';
import { summarizeOperations, type BallotValue, type OperationName } from './operation-contents.js';

/** The kinds that carry a chain id, a level and a round: the ones a watermark guards. */
export const CONSENSUS_KINDS = ['block', 'preattestation', 'attestation'] as const;
export type ConsensusKind = (typeof CONSENSUS_KINDS)[number];
/** Every kind a magic byte can name, in the order policies list them; `authenticated` (0x04) is never signed. */
export const REQUEST_KINDS = [...CONSENSUS_KINDS, 'generic', 'michelson', 'authenticated'] as const;
export type RequestKind = (typeof REQUEST_KINDS)[number];

export function isConsensusKind(kind: RequestKind): kind is ConsensusKind {
  return (CONSENSUS_KINDS as readonly RequestKind[]).includes(kind);
}

export interface SignRequest {
  magic: number;
  kind: RequestKind;
  /** b58 `Net…` for block / preattestation / attestation; null otherwise. */
  chainId: string | null;
  level: number | null;
  round: number | null;
  /** generic: the name of each operation (incl. `ballot` and pseudo-operations like `stake`); empty otherwise. */
  operationKinds: OperationName[];
  /** generic: the vote of each ballot, in order; empty otherwise. */
  ballots: BallotValue[];
  /** preattestation / attestation: the content tag (20, 21, 23 with slot; 40, 41 BLS mode). */
  consensusTag: number | null;
}

const BRANCH_BYTES = 32;
const CONSENSUS_SLOT_BYTES = 80;
const CONSENSUS_BLS_BYTES = 78;

/** Content tags allowed under each consensus magic byte, with their name and whether a slot precedes the level. */
const CONSENSUS_TAGS: Readonly<Record<number, Readonly<Record<number, { name: string; slot: boolean; dal: boolean }>>>> = {
  0x12: { 20: { name: 'preattestation', slot: true, dal: false }, 40: { name: 'bls_mode_preattestation', slot: false, dal: false } },
  0x13: {
    21: { name: 'attestation', slot: true, dal: false },
    23: { name: 'attestation_with_dal', slot: true, dal: true },
    41: { name: 'bls_mode_attestation', slot: false, dal: false },
  },
};

export function parseSignRequest(bytes: Buffer): SignRequest {
  if (bytes.length === 0) throw new DaemonError('BAD_REQUEST', 'empty payload');
  const magic = bytes[0] as number;
  switch (magic) {
    case 0x11:
      return parseBlock(bytes);
    case 0x12:
    case 0x13:
      return parseConsensus(bytes, magic);
    case 0x03:
      return parseGeneric(bytes);
    case 0x05:
      if (bytes.length < 2) throw new DaemonError('BAD_REQUEST', 'Michelson data (0x05) without data');
      return base(magic, 'michelson');
    case 0x04:
      return base(magic, 'authenticated');
    case 0x01:
    case 0x02:
      throw new DaemonError('NOT_ALLOWED', `magic byte 0x0${magic} is a pre-Tenderbake (Emmy) payload; not signed`);
    default:
      throw new DaemonError('NOT_ALLOWED', `unknown magic byte 0x${magic.toString(16).padStart(2, '0')}; not signed`);
  }
}

function base(magic: number, kind: RequestKind): SignRequest {
  return { magic, kind, chainId: null, level: null, round: null, operationKinds: [], ballots: [], consensusTag: null };
}

function chainIdAt(r: ByteReader): string {
  return b58checkEncode('Net', r.bytes(4, 'chain id'));
}

function checkedLevel(level: number, round: number, what: string): void {
  if (level < 0) throw new DaemonError('BAD_REQUEST', `${what} with negative level ${level}`);
  if (round < 0) throw new DaemonError('BAD_REQUEST', `${what} with negative round ${round}`);
}

/** 0x11 Tenderbake block header (octez block_header_repr.ml); the round is the fitness's last element. */
function parseBlock(bytes: Buffer): SignRequest {
  const r = byteReader(bytes, 1);
  const chainId = chainIdAt(r);
  const level = r.i32('block level');
  r.bytes(1 + 32 + 8 + 1 + 32, 'block shell header');
  const fitness = r.lengthPrefixed('block fitness');
  const round = fitnessRound(fitness, level);
  r.bytes(32 + 32 + 4 + 8, 'block protocol data');
  if (r.flag('block seed nonce hash presence')) r.bytes(32, 'block seed nonce hash');
  r.u8('block per-block votes');
  // Nothing follows the votes in any Tenderbake protocol's header. Bytes after them are not a block a
  // node would take, and signed they would still take the slot from the real block: refused, as a
  // consensus operation of the wrong length is. A protocol that adds fields needs a signerd that knows them.
  r.end('block per-block votes');
  checkedLevel(level, round, 'block');
  return { ...base(0x11, 'block'), chainId, level, round };
}

/** Tenderbake fitness: version [02], level, locked round (empty or int32), -predecessor round - 1, round. */
function fitnessRound(fitness: Buffer, level: number): number {
  const f = byteReader(fitness);
  const version = f.lengthPrefixed('fitness version');
  if (version.length !== 1 || version[0] !== 0x02) throw new DaemonError('BAD_REQUEST', 'block fitness is not a Tenderbake (version 2) fitness');
  const fitnessLevel = f.lengthPrefixed('fitness level');
  if (fitnessLevel.length !== 4 || fitnessLevel.readInt32BE(0) !== level)
    throw new DaemonError('BAD_REQUEST', 'block fitness level differs from the header level');
  const locked = f.lengthPrefixed('fitness locked round');
  if (locked.length !== 0 && locked.length !== 4) throw new DaemonError('BAD_REQUEST', 'block fitness locked round is malformed');
  if (f.lengthPrefixed('fitness predecessor round').length !== 4) throw new DaemonError('BAD_REQUEST', 'block fitness predecessor round is malformed');
  const round = f.lengthPrefixed('fitness round');
  if (round.length !== 4) throw new DaemonError('BAD_REQUEST', 'block fitness round is malformed');
  f.end('block fitness');
  return round.readInt32BE(0);
}

function parseConsensus(bytes: Buffer, magic: 0x12 | 0x13): SignRequest {
  const kind = magic === 0x12 ? 'preattestation' : 'attestation';
  const r = byteReader(bytes, 1);
  const chainId = chainIdAt(r);
  r.bytes(BRANCH_BYTES, `${kind} branch`);
  const tag = r.u8(`${kind} content tag`);
  const layout = CONSENSUS_TAGS[magic]?.[tag];
  if (layout === undefined) {
    const aggregate = tag === 30 || tag === 31 ? ' (aggregates are built by the block producer, never signed)' : '';
    throw new DaemonError(
      'NOT_ALLOWED',
      `unknown or misplaced consensus tag ${tag} under magic byte 0x${magic.toString(16)} (${kind})${aggregate}; not signed`,
    );
  }
  if (layout.slot) r.u16(`${kind} slot`);
  const level = r.i32(`${kind} level`);
  const round = r.i32(`${kind} round`);
  r.bytes(32, `${kind} block payload hash`);
  if (layout.dal) readDalBitset(r);
  const expected = layout.slot ? CONSENSUS_SLOT_BYTES : CONSENSUS_BLS_BYTES;
  if (!layout.dal && bytes.length !== expected) throw new DaemonError('BAD_REQUEST', `${layout.name} must be ${expected} bytes, not ${bytes.length}`);
  r.end(layout.name);
  checkedLevel(level, round, kind);
  return { ...base(magic, kind), chainId, level, round, consensusTag: tag };
}

/**
 * The DAL attestation bitset: a Zarith natural (7 bits a byte) that must end exactly at the end of
 * the bytes, of at most DAL_BITSET_BYTES_MAX bytes (one bit per DAL slot), in canonical form: a
 * last byte of zero after others (a number with a trailing zero group) is refused by octez's decoder.
 */
function readDalBitset(r: ByteReader): void {
  for (let read = 1; r.remaining() > 0; read++) {
    const byte = r.u8('DAL attestation bitset');
    if (read > DAL_BITSET_BYTES_MAX) throw new DaemonError('BAD_REQUEST', `DAL attestation bitset longer than ${DAL_BITSET_BYTES_MAX} bytes`);
    if ((byte & 0x80) !== 0) continue;
    if (byte === 0 && read > 1) throw new DaemonError('BAD_REQUEST', 'DAL attestation bitset is not in canonical form (a trailing zero byte)');
    return;
  }
  throw new DaemonError('BAD_REQUEST', 'DAL attestation bitset is missing or truncated');
}

function parseGeneric(bytes: Buffer): SignRequest {
  if (bytes.length < 1 + BRANCH_BYTES) throw new DaemonError('BAD_REQUEST', 'generic operation shorter than its branch');
  const summary = summarizeOperations(bytes.subarray(1 + BRANCH_BYTES));
  return { ...base(0x03, 'generic'), operationKinds: summary.kinds, ballots: summary.ballots };
}
