// Payload decoding on real signing requests (seed tests, mainnet, Ledger docs), on consensus layouts
// built from the octez offset tables (slot and slot-less BLS), and on generic operations forged by
// @taquito/local-forging (an independent encoder); plus refusals of unknown and malformed bytes.
import crypto from 'node:crypto';
import t from 'tap';
import { LocalForger } from '@taquito/local-forging';
import { isDaemonError } from '../../../lib/errors.js';
import { b58checkEncode } from '../../../daemons/tezos/keys/base58check.js';
import { parseSignRequest } from '../../../daemons/tezos/signing/sign-request.js';
import { verifyTezosSignature } from '../../../daemons/tezos/keys/tezos-key.js';
import { hex, loadTezosVectors, type PayloadVectors } from './tezos-vectors.js';

const payloads = loadTezosVectors<PayloadVectors>('payloads.json');
const GHOSTNET = 'af1864d9';
const BRANCH_HEX = '8fcf233671b6a04fcf679d2a381c2544ea6c1ea29ba6157776ed8424c7ccd00b';
const BRANCH = 'BLockGenesisGenesisGenesisGenesisGenesisf79b5d1CoW2';
const SOURCE = 'tz1b9kV41KV9N3sp69ycLdSoZ2Ak8jXwtNPv';
/** The Seoul protocol hash, as bytes in the reference ballot (tezos.md 2.5). */
const PROTOCOL = b58checkEncode('P', hex('e2f6d5e9864c5aadd74a45caaef08c627fa79e6b65f037a6a2d9ea7c9e8968a9'));
const MANAGER = { source: SOURCE, fee: '1000', counter: '12345', gas_limit: '10000', storage_limit: '0' };

function int32(n: number): string {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b.toString('hex');
}

/** A 0x12/0x13 request from the octez layout table: tag, optional slot, level, round, payload hash. */
function consensus(magic: number, tag: number, level: number, round: number, opts: { slot?: boolean; tail?: string } = {}): Buffer {
  const slot = opts.slot === false ? '' : '0007';
  return hex(
    magic.toString(16) + GHOSTNET + BRANCH_HEX + tag.toString(16).padStart(2, '0') + slot + int32(level) + int32(round) + '11'.repeat(32) + (opts.tail ?? ''),
  );
}

function refusal(bytes: Buffer): string | undefined {
  try {
    parseSignRequest(bytes);
  } catch (err) {
    return isDaemonError(err) ? err.code : `not a DaemonError: ${String(err)}`;
  }
  return undefined;
}

t.test('real payloads: kind, chain id, level, round (block round from the fitness)', async (t) => {
  for (const p of payloads.accepted) {
    const req = parseSignRequest(hex(p.hex));
    t.equal(req.kind, p.kind, `${p.name}: kind`);
    if (p.chainId !== undefined) t.equal(req.chainId, p.chainId, `${p.name}: chain id`);
    if (p.level !== undefined) t.equal(req.level, p.level, `${p.name}: level`);
    if (p.round !== undefined) t.equal(req.round, p.round, `${p.name}: round`);
    if (p.consensusTag !== undefined) t.equal(req.consensusTag, p.consensusTag, `${p.name}: tag`);
    if (p.operationKinds) t.same(req.operationKinds, p.operationKinds, `${p.name}: operations`);
    if (p.ballots) t.same(req.ballots, p.ballots, `${p.name}: ballots`);
    if (p.kind !== 'generic') t.same(req.operationKinds, [], `${p.name}: no operations`);
    if (p.signature) t.ok(verifyTezosSignature(p.publicKey!, hex(p.hex), p.signature), `${p.name}: published Ed25519 signature verifies`);
  }
});

t.test('refused real payloads', async (t) => {
  for (const p of payloads.refused) {
    const code = refusal(hex(p.hex));
    t.ok(code === 'NOT_ALLOWED' || code === 'BAD_REQUEST', `${p.name}: ${code}`);
    if (p.code) t.equal(code, p.code);
  }
});

t.test('consensus layouts by tag: slot (20, 21, 23) and slot-less BLS mode (40, 41)', async (t) => {
  const cases = [
    { bytes: consensus(0x12, 20, 500, 3), kind: 'preattestation', tag: 20 },
    { bytes: consensus(0x13, 21, 500, 3), kind: 'attestation', tag: 21 },
    { bytes: consensus(0x12, 40, 500, 3, { slot: false }), kind: 'preattestation', tag: 40 },
    { bytes: consensus(0x13, 41, 500, 3, { slot: false }), kind: 'attestation', tag: 41 },
    { bytes: consensus(0x13, 23, 500, 3, { tail: 'ac02' }), kind: 'attestation', tag: 23 },
  ];
  for (const c of cases) {
    const req = parseSignRequest(c.bytes);
    t.match(req, { kind: c.kind, chainId: 'NetXnHfVqm9iesp', level: 500, round: 3, consensusTag: c.tag }, `tag ${c.tag}`);
  }
  t.equal(consensus(0x12, 40, 1, 0, { slot: false }).length, 78);
  t.equal(consensus(0x13, 21, 1, 0).length, 80);
});

t.test('Taquito-forged attestations parse to the levels and rounds it was given', async (t) => {
  const forger = new LocalForger();
  const hash = 'vh1g87ZG6scSYxKhspAUzprQVuLAyoa5qMBKcUfjgnQGnFb3dJcG';
  const plain = await forger.forge({ branch: BRANCH, contents: [{ kind: 'attestation', slot: 9, level: 4242, round: 1, block_payload_hash: hash }] } as never);
  const dal = await forger.forge({
    branch: BRANCH,
    contents: [{ kind: 'attestation_with_dal', slot: 9, level: 4243, round: 0, block_payload_hash: hash, dal_attestation: '300' }],
  } as never);
  t.match(parseSignRequest(hex('13' + GHOSTNET + plain)), { kind: 'attestation', level: 4242, round: 1, consensusTag: 21 });
  t.match(parseSignRequest(hex('13' + GHOSTNET + dal)), { kind: 'attestation', level: 4243, round: 0, consensusTag: 23 });
});

t.test('unknown magic, unknown or misplaced consensus tags and aggregates are NOT_ALLOWED', async (t) => {
  t.equal(refusal(hex('00aa')), 'NOT_ALLOWED', 'magic 0x00');
  t.equal(refusal(hex('06aa')), 'NOT_ALLOWED', 'magic 0x06');
  t.equal(refusal(hex('ff')), 'NOT_ALLOWED', 'magic 0xff');
  t.equal(refusal(hex('01' + GHOSTNET + '00000001')), 'NOT_ALLOWED', 'Emmy block');
  t.equal(refusal(consensus(0x13, 20, 5, 0)), 'NOT_ALLOWED', 'preattestation tag under attestation magic');
  t.equal(refusal(consensus(0x12, 21, 5, 0)), 'NOT_ALLOWED', 'attestation tag under preattestation magic');
  t.equal(refusal(consensus(0x12, 23, 5, 0, { tail: '00' })), 'NOT_ALLOWED', 'DAL tag under preattestation magic');
  t.equal(refusal(consensus(0x13, 40, 5, 0, { slot: false })), 'NOT_ALLOWED', 'BLS preattestation tag under attestation magic');
  for (const tag of [30, 31, 22, 42, 0, 255]) t.equal(refusal(consensus(0x13, tag, 5, 0)), 'NOT_ALLOWED', `tag ${tag}`);
});

t.test('malformed consensus and block payloads are BAD_REQUEST', async (t) => {
  t.equal(refusal(Buffer.alloc(0)), 'BAD_REQUEST', 'empty');
  t.equal(refusal(consensus(0x13, 21, 5, 0).subarray(0, 79)), 'BAD_REQUEST', 'one byte short');
  t.equal(refusal(consensus(0x13, 21, 5, 0, { tail: '00' })), 'BAD_REQUEST', 'one byte long');
  t.equal(refusal(consensus(0x13, 41, 5, 0)), 'BAD_REQUEST', 'BLS tag with a slot (80 bytes)');
  t.equal(refusal(consensus(0x13, 23, 5, 0)), 'BAD_REQUEST', 'DAL tag without its bitset');
  t.equal(refusal(consensus(0x13, 23, 5, 0, { tail: '80' })), 'BAD_REQUEST', 'DAL bitset truncated');
  t.equal(refusal(consensus(0x13, 23, 5, 0, { tail: '8000' })), 'BAD_REQUEST', 'DAL bitset with a trailing zero byte (not canonical)');
  t.equal(refusal(consensus(0x13, 23, 5, 0, { tail: '80'.repeat(64) + '01' })), 'BAD_REQUEST', 'DAL bitset of 65 bytes');
  t.equal(refusal(consensus(0x13, 23, 5, 0, { tail: 'ff'.repeat(63) + '7f' })), undefined, 'DAL bitset of 64 bytes (448 slots) signs');
  t.equal(refusal(consensus(0x13, 23, 5, 0, { tail: '00' })), undefined, 'DAL bitset zero (one byte) signs');
  t.equal(refusal(consensus(0x13, 21, -1, 0)), 'BAD_REQUEST', 'negative level');
  t.equal(refusal(consensus(0x13, 21, 5, -2)), 'BAD_REQUEST', 'negative round');
  t.equal(refusal(hex('12' + GHOSTNET)), 'BAD_REQUEST', 'no branch');
  const block = hex(payloads.accepted[0]!.hex);
  t.equal(refusal(block.subarray(0, 100)), 'BAD_REQUEST', 'block cut in the fitness');
  t.equal(refusal(block.subarray(0, block.length - 1)), 'BAD_REQUEST', 'block without its votes byte');
  t.equal(refusal(Buffer.concat([block, Buffer.alloc(1000)])), 'BAD_REQUEST', 'block with bytes after its votes byte');
  const wrongLevel = Buffer.from(block);
  wrongLevel[8] = (wrongLevel[8] ?? 0) ^ 1;
  t.equal(refusal(wrongLevel), 'BAD_REQUEST', 'header level differs from fitness level');
  const badFitness = Buffer.from(block);
  badFitness.writeUInt32BE(0x22, 83);
  t.equal(refusal(badFitness), 'BAD_REQUEST', 'fitness length off by one');
});

t.test('generic operations forged by Taquito: names, pseudo-operations, batches', async (t) => {
  const forger = new LocalForger();
  const forge = async (contents: unknown[]): Promise<Buffer> => hex('03' + (await forger.forge({ branch: BRANCH, contents } as never)));
  const cases: Array<[string, unknown[], string[]]> = [
    ['transaction', [{ kind: 'transaction', ...MANAGER, amount: '1000000', destination: 'tz1RvhdZ5pcjD19vCCK9PgZpnmErTba3dsBs' }], ['transaction']],
    [
      'stake to self',
      [{ kind: 'transaction', ...MANAGER, amount: '1000000', destination: SOURCE, parameters: { entrypoint: 'stake', value: { prim: 'Unit' } } }],
      ['stake'],
    ],
    [
      'unstake to self',
      [{ kind: 'transaction', ...MANAGER, amount: '5', destination: SOURCE, parameters: { entrypoint: 'unstake', value: { prim: 'Unit' } } }],
      ['unstake'],
    ],
    [
      'finalize_unstake',
      [{ kind: 'transaction', ...MANAGER, amount: '0', destination: SOURCE, parameters: { entrypoint: 'finalize_unstake', value: { prim: 'Unit' } } }],
      ['finalize_unstake'],
    ],
    [
      'contract call',
      [
        {
          kind: 'transaction',
          ...MANAGER,
          amount: '0',
          destination: 'KT1PWx2mnDueood7fEmfbBDKx1D9BAnnXitn',
          parameters: { entrypoint: 'transfer', value: { int: '7' } },
        },
      ],
      ['transaction'],
    ],
    [
      'reveal + delegation batch',
      [
        { kind: 'reveal', ...MANAGER, public_key: 'edpkuhmrbunxumoiVdQuxBZUPMmwkPt7yLtY5Qnua3VJVTLWr3vXXa' },
        { kind: 'delegation', ...MANAGER, delegate: SOURCE },
      ],
      ['reveal', 'delegation'],
    ],
    ['undelegation', [{ kind: 'delegation', ...MANAGER }], ['delegation']],
    [
      'origination',
      [
        {
          kind: 'origination',
          ...MANAGER,
          balance: '0',
          script: {
            code: [
              { prim: 'parameter', args: [{ prim: 'unit' }] },
              { prim: 'storage', args: [{ prim: 'unit' }] },
              { prim: 'code', args: [[{ prim: 'CDR' }, { prim: 'NIL', args: [{ prim: 'operation' }] }, { prim: 'PAIR' }]] },
            ],
            storage: { prim: 'Unit' },
          },
        },
      ],
      ['origination'],
    ],
    ['drain_delegate', [{ kind: 'drain_delegate', consensus_key: SOURCE, delegate: SOURCE, destination: SOURCE }], ['drain_delegate']],
    ['failing_noop', [{ kind: 'failing_noop', arbitrary: 'cafe' }], ['failing_noop']],
    ['proposals', [{ kind: 'proposals', source: SOURCE, period: 3, proposals: [PROTOCOL] }], ['proposals']],
    ['ballot yay', [{ kind: 'ballot', source: SOURCE, period: 3, proposal: PROTOCOL, ballot: 'yay' }], ['ballot']],
  ];
  for (const [name, contents, kinds] of cases) {
    const req = parseSignRequest(await forge(contents));
    t.equal(req.kind, 'generic', name);
    t.same(req.operationKinds, kinds, name);
    t.equal(req.chainId, null, `${name}: generic operations carry no chain id`);
  }
  const ballot = parseSignRequest(await forge([cases[11]![1][0]]));
  t.same(ballot.ballots, ['yay']);
});

t.test('generic operations: refusals', async (t) => {
  const forger = new LocalForger();
  const noop = hex('03' + (await forger.forge({ branch: BRANCH, contents: [{ kind: 'failing_noop', arbitrary: 'cafe' }] } as never)));
  t.equal(refusal(hex('03' + BRANCH_HEX)), 'BAD_REQUEST', 'no contents');
  t.equal(refusal(hex('03' + BRANCH_HEX.slice(0, 20))), 'BAD_REQUEST', 'short branch');
  t.equal(refusal(noop.subarray(0, noop.length - 1)), 'BAD_REQUEST', 'truncated content');
  t.equal(refusal(Buffer.concat([noop, noop.subarray(33)])), 'BAD_REQUEST', 'two non-manager operations batched');
  t.equal(refusal(hex('03' + BRANCH_HEX + '15' + '00'.repeat(42))), 'NOT_ALLOWED', 'attestation content under 0x03');
  t.equal(refusal(hex('03' + BRANCH_HEX + 'c8' + '00'.repeat(30))), 'NOT_ALLOWED', 'smart rollup operation (not understood)');
  t.equal(refusal(hex('03' + BRANCH_HEX + '77')), 'NOT_ALLOWED', 'unknown tag');
  t.equal(refusal(hex('03' + BRANCH_HEX + '6c' + '00' + 'aa'.repeat(20) + 'ff'.repeat(12))), 'BAD_REQUEST', 'runaway Zarith number');
  t.equal(parseSignRequest(hex('05010000000568656c6c6f')).kind, 'michelson');
  t.equal(parseSignRequest(hex('04' + '01' + '00'.repeat(21))).kind, 'authenticated');
});

t.test('any bytes: a result or a DaemonError, never another exception', async (t) => {
  const seeds = payloads.accepted.map((p) => hex(p.hex));
  let other = 0;
  for (let i = 0; i < 3000; i++) {
    const base = seeds[i % seeds.length]!;
    const bytes = i % 3 === 0 ? crypto.randomBytes(i % 200) : Buffer.from(base.subarray(0, (i * 7) % (base.length + 1)));
    if (i % 3 === 2 && bytes.length > 1) bytes[(i * 13) % bytes.length] = i & 0xff;
    const code = refusal(bytes);
    if (code !== undefined && code !== 'BAD_REQUEST' && code !== 'NOT_ALLOWED') other++;
  }
  t.equal(other, 0);
});
