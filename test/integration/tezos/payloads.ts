// Byte-exact Tezos payloads for the integration tests, built from the layouts in the reference
// notes (tezos.md 2.2/2.3): Tenderbake blocks, (pre)attestations with and without slot, ballots.
import crypto from 'node:crypto';

/** Mainnet NetXdQprcVkpaWU. */
const MAINNET = Buffer.from('7a06a770', 'hex');
export const MAINNET_ID = 'NetXdQprcVkpaWU';
/** Ghostnet NetXnHfVqm9iesp. */
export const GHOSTNET = Buffer.from('af1864d9', 'hex');

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

/** A 32-byte value derived from a seed, so that different seeds give different payloads. */
function hash32(seed: string): Buffer {
  return crypto.createHash('sha256').update(seed).digest();
}

export interface ConsensusOptions {
  level: number;
  round: number;
  chain?: Buffer;
  /** Varies the bytes without changing the slot (different branch and payload hash). */
  variant?: string;
  slot?: number;
}

/** 0x13 attestation (tag 21, with slot) or 0x12 preattestation (tag 20): 80 bytes. */
export function consensus(kind: 'attestation' | 'preattestation', o: ConsensusOptions): Buffer {
  const magic = kind === 'attestation' ? 0x13 : 0x12;
  const tag = kind === 'attestation' ? 21 : 20;
  const v = o.variant ?? '';
  return Buffer.concat([
    Buffer.from([magic]),
    o.chain ?? MAINNET,
    hash32(`branch${v}`),
    Buffer.from([tag]),
    u16(o.slot ?? 0),
    int32(o.level),
    int32(o.round),
    hash32(`payload${v}`),
  ]);
}

/** 0x13 BLS-mode attestation (tag 41, no slot): 78 bytes, what tz4 keys sign from Seoul on. */
export function blsAttestation(o: ConsensusOptions): Buffer {
  const v = o.variant ?? '';
  return Buffer.concat([
    Buffer.from([0x13]),
    o.chain ?? MAINNET,
    hash32(`branch${v}`),
    Buffer.from([41]),
    int32(o.level),
    int32(o.round),
    hash32(`payload${v}`),
  ]);
}

/** 0x11 Tenderbake block header; the round sits in the fitness (last 4 bytes). */
export function block(o: ConsensusOptions): Buffer {
  const v = o.variant ?? '';
  const fitness = Buffer.concat([
    int32(1),
    Buffer.from([0x02]), // version
    int32(4),
    int32(o.level), // level
    int32(0), // locked round: none
    int32(4),
    int32(-1), // predecessor round 0 → -1
    int32(4),
    int32(o.round), // round
  ]);
  const timestamp = Buffer.alloc(8);
  timestamp.writeBigInt64BE(1_700_000_000n + BigInt(o.level));
  return Buffer.concat([
    Buffer.from([0x11]),
    o.chain ?? MAINNET,
    int32(o.level),
    Buffer.from([0x01]),
    hash32(`pred${o.level}`),
    timestamp,
    Buffer.from([0x04]),
    hash32(`ops${v}`),
    int32(fitness.length),
    fitness,
    hash32(`context${v}`),
    hash32(`payload${v}`),
    int32(o.round),
    Buffer.alloc(8, 0x5a),
    Buffer.from([0x00]),
    Buffer.from([0x00]),
  ]);
}

/** 0x03 ballot (tag 6) from the reference notes' forged example; vote 0 yay, 1 nay, 2 pass. */
export function ballot(vote: 0 | 1 | 2): Buffer {
  const body =
    '8fcf233671b6a04fcf679d2a381c2544ea6c1ea29ba6157776ed8424c7ccd00b' +
    '06' +
    '0002298c03ed7d454a101eb7022bc95f7e5f41ac78' +
    '00000007' +
    'e2f6d5e9864c5aadd74a45caaef08c627fa79e6b65f037a6a2d9ea7c9e8968a9';
  return Buffer.concat([Buffer.from([0x03]), Buffer.from(body, 'hex'), Buffer.from([vote])]);
}

/** 0x05 packed Michelson data: the string "hello". */
export function michelson(): Buffer {
  return Buffer.from('05010000000568656c6c6f', 'hex');
}
