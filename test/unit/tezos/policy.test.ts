// The policy matrix: the seed's vocabulary (baking, voting with aye, allow_all) and signerd's (allow,
// generic, chains, michelson) against real and Taquito-forged requests. Deny by default.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { LocalForger } from '@taquito/local-forging';
import { isDaemonError } from '../../../lib/errors.js';
import { checkPolicy, type KeyPolicy } from '../../../daemons/tezos/policy/key-policy.js';
import { parsePolicy } from '../../../daemons/tezos/config/policy-config.js';
import { parseSignRequest, type SignRequest } from '../../../daemons/tezos/signing/sign-request.js';
import { REPO_ROOT } from '../../helpers/repo-root.js';
import { hex, loadTezosVectors, type PayloadVectors } from './tezos-vectors.js';

const payloads = loadTezosVectors<PayloadVectors>('payloads.json');
const BRANCH = 'BLockGenesisGenesisGenesisGenesisGenesisf79b5d1CoW2';
const SOURCE = 'tz1b9kV41KV9N3sp69ycLdSoZ2Ak8jXwtNPv';
const MANAGER = { source: SOURCE, fee: '1000', counter: '1', gas_limit: '10000', storage_limit: '0' };
const MAINNET = 'NetXdQprcVkpaWU';

function real(name: string): SignRequest {
  const p = payloads.accepted.find((v) => v.name === name);
  if (!p) throw new Error(`no payload ${name}`);
  return parseSignRequest(hex(p.hex));
}

async function forged(contents: unknown[]): Promise<SignRequest> {
  return parseSignRequest(hex('03' + (await new LocalForger().forge({ branch: BRANCH, contents } as never))));
}

function bls(tag: 40 | 41): SignRequest {
  const magic = tag === 40 ? '12' : '13';
  return parseSignRequest(hex(magic + '7a06a770' + '22'.repeat(32) + tag.toString(16) + '00000064' + '00000000' + '33'.repeat(32)));
}

function verdict(policy: KeyPolicy, req: SignRequest): string {
  try {
    checkPolicy(policy, req);
    return 'allow';
  } catch (err) {
    return isDaemonError(err) ? err.code : 'not a DaemonError';
  }
}

t.test('the matrix', async (t) => {
  const requests: Record<string, SignRequest> = {
    block: real('mainnet block L12 R0'),
    preattestation: real('preendorsement (tag 20) L11 R6'),
    attestation: real('endorsement (tag 21) L11 R0'),
    otherChainBlock: real('other-chain block L11 R6'),
    ballotYay: real('ballot yay'),
    ballotNay: real('ballot nay'),
    ballotPass: real('ballot pass'),
    transaction: await forged([{ kind: 'transaction', ...MANAGER, amount: '5', destination: 'tz1RvhdZ5pcjD19vCCK9PgZpnmErTba3dsBs' }]),
    stake: await forged([{ kind: 'transaction', ...MANAGER, amount: '5', destination: SOURCE, parameters: { entrypoint: 'stake', value: { prim: 'Unit' } } }]),
    revealDelegate: await forged([
      { kind: 'reveal', ...MANAGER, public_key: 'edpkuhmrbunxumoiVdQuxBZUPMmwkPt7yLtY5Qnua3VJVTLWr3vXXa' },
      { kind: 'delegation', ...MANAGER, delegate: SOURCE },
    ]),
    drain: await forged([{ kind: 'drain_delegate', consensus_key: SOURCE, delegate: SOURCE, destination: SOURCE }]),
    michelson: parseSignRequest(hex('05010000000568656c6c6f')),
    authenticated: parseSignRequest(hex('0401' + '00'.repeat(21) + '11')),
  };
  const names = Object.keys(requests);
  const policies: Array<[string, unknown, string[]]> = [
    ['no policy (deny by default)', undefined, []],
    ['seed baking: 1', { baking: 1 }, ['block', 'preattestation', 'attestation', 'otherChainBlock']],
    ['seed baking: 0', { baking: 0 }, []],
    ['seed voting aye/pass', { voting: ['aye', 'pass'] }, ['ballotYay', 'ballotPass']],
    ['seed baking + voting nay', { baking: true, voting: ['nay'] }, ['block', 'preattestation', 'attestation', 'otherChainBlock', 'ballotNay']],
    ['seed allow_all', { allow_all: 1 }, names.filter((n) => n !== 'michelson' && n !== 'authenticated')],
    ['attestation only, mainnet only', { allow: ['attestation', 'preendorsement'], chains: [MAINNET] }, ['preattestation', 'attestation']],
    ['blocks on mainnet', { allow: ['block'], allowed_chains: [MAINNET] }, ['block']],
    ['transaction and stake', { generic: ['transaction', 'stake'] }, ['transaction', 'stake']],
    ['reveal and delegation', { generic: ['reveal', 'delegation'] }, ['revealDelegate']],
    ['reveal alone does not pass the batch', { generic: ['reveal'] }, []],
    ['any ballot', { generic: ['ballot'] }, ['ballotYay', 'ballotNay', 'ballotPass']],
    ['ballot:nay', { generic: ['ballot:nay'] }, ['ballotNay']],
    ['drain_delegate explicitly', { generic: ['drain_delegate'] }, ['drain']],
    ['michelson explicitly', { michelson: true }, ['michelson']],
    ['michelson via allow', { allow: ['michelson'] }, ['michelson']],
  ];
  for (const [label, value, allowed] of policies) {
    const policy = parsePolicy(value, 'policy', false);
    for (const name of names) {
      const want = allowed.includes(name) ? 'allow' : 'NOT_ALLOWED';
      t.equal(verdict(policy, requests[name]!), want, `${label}: ${name}`);
    }
  }
});

t.test('refusal messages name what was refused', async (t) => {
  const policy = parsePolicy({ baking: 1, voting: ['yay'] }, 'policy', false);
  t.throws(() => checkPolicy(policy, real('ballot nay')), { code: 'NOT_ALLOWED', message: /nay ballot/ });
  t.throws(() => checkPolicy(parsePolicy({ allow: ['block'], chains: ['NetXnHfVqm9iesp'] }, 'p', false), real('mainnet block L12 R0')), {
    message: /chain NetXdQprcVkpaWU/,
  });
  t.throws(() => checkPolicy(policy, parseSignRequest(hex('05010000000568656c6c6f'))), { message: /michelson/ });
});

t.test('BLS-mode consensus tags only for tz4 keys', async (t) => {
  for (const tag of [40, 41] as const) {
    t.equal(verdict(parsePolicy({ baking: 1 }, 'p', false), bls(tag)), 'NOT_ALLOWED', `tag ${tag}, non-BLS key`);
    t.equal(verdict(parsePolicy({ baking: 1 }, 'p', true), bls(tag)), 'allow', `tag ${tag}, tz4 key`);
  }
});

t.test('invalid policies are CONFIG_INVALID naming the field', async (t) => {
  const bad: Array<[unknown, RegExp]> = [
    [{ baking: 'yes' }, /policy\.baking/],
    [{ voting: ['maybe'] }, /policy\.voting/],
    [{ voting: 'aye' }, /policy\.voting/],
    [{ allow: ['transfer'] }, /policy\.allow/],
    [{ generic: ['teleport'] }, /policy\.generic/],
    [{ generic: ['transfer_ticket'] }, /policy\.generic.*never signed by this signer/],
    [{ generic: ['smart_rollup_publish'] }, /policy\.generic.*never signed by this signer/],
    [{ chains: ['mainnet'] }, /policy\.chains/],
    [{ bakin: 1 }, /policy\.bakin/],
    [[], /policy/],
  ];
  for (const [value, where] of bad) t.throws(() => parsePolicy(value, 'policy', false), { code: 'CONFIG_INVALID', message: where }, JSON.stringify(value));
});

t.test('docs/tezos.md and the parser agree on what allows Michelson data (0x05)', async (t) => {
  const doc = fs.readFileSync(path.join(REPO_ROOT, 'docs/tezos.md'), 'utf8').replace(/\s+/g, ' ');
  t.match(
    doc,
    /only when the policy names it: `"michelson": true` or `"allow": \[\.\.\., "michelson"\]`, the two are the same; nothing else allows it, not even `allow_all`/,
    'the doc names both forms',
  );
  const michelson = parseSignRequest(hex('05010000000568656c6c6f'));
  t.equal(verdict(parsePolicy({ michelson: true }, 'p', false), michelson), 'allow', '"michelson": true');
  t.equal(verdict(parsePolicy({ allow: ['michelson'] }, 'p', false), michelson), 'allow', '"allow": ["michelson"]');
  t.equal(verdict(parsePolicy({ allow_all: 1, baking: 1, generic: ['transaction'] }, 'p', false), michelson), 'NOT_ALLOWED', 'nothing else');
});
