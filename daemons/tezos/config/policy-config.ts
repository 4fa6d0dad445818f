// Turns a policy object from keys.json into a KeyPolicy: the seed's vocabulary (`baking`, `voting` with
// `aye` = `yay`, `allow_all`) and signerd's (`allow`, `generic`, `chains`, `michelson`). Unknown names fail.
// The names come from the decoders (request kinds, operation names, votes), so the two cannot disagree.
import { b58checkDecode } from '../keys/base58check.js';
import type { KeyPolicy } from '../policy/key-policy.js';
import { BALLOT_VOTES, OPERATION_NAMES, UNPARSED_OPERATION_NAMES } from '../signing/operation-contents.js';
import { CONSENSUS_KINDS, REQUEST_KINDS, type RequestKind } from '../signing/sign-request.js';
import { asObject, invalid, stringList } from './json-values.js';

/** Request kind names in `allow`: every kind but `authenticated`, and the pre-Lima names bakers' configs still carry. */
const KIND_NAMES: Readonly<Record<string, RequestKind>> = {
  ...Object.fromEntries(REQUEST_KINDS.filter((kind) => kind !== 'authenticated').map((kind) => [kind, kind])),
  preendorsement: 'preattestation',
  endorsement: 'attestation',
};
/** Names in `generic`: each operation, and a ballot restricted to one vote. */
const GENERIC_NAMES: ReadonlySet<string> = new Set(
  OPERATION_NAMES.flatMap((name) => (name === 'ballot' ? [name, ...BALLOT_VOTES.map((vote) => `ballot:${vote}`)] : [name])),
);
/** Votes in `voting`: octez's, and the seed's `aye` for `yay`. */
const VOTES: Readonly<Record<string, string>> = { aye: 'yay', ...Object.fromEntries(BALLOT_VOTES.map((vote) => [vote, vote])) };
const POLICY_FIELDS = new Set(['baking', 'voting', 'allow_all', 'allow', 'generic', 'chains', 'allowed_chains', 'michelson']);

/** The policy that allows nothing: what a key without any policy gets. */
function denyAllPolicy(blsKey: boolean): KeyPolicy {
  return { kinds: new Set(), operations: new Set(), anyOperation: false, chainIds: new Set(), blsKey };
}

export function parsePolicy(value: unknown, where: string, blsKey: boolean): KeyPolicy {
  if (value === undefined || value === null) return denyAllPolicy(blsKey);
  const obj = asObject(value, where);
  for (const field of Object.keys(obj)) {
    if (!POLICY_FIELDS.has(field)) throw invalid(`${where}.${field}`, `unknown policy field (known: ${[...POLICY_FIELDS].join(', ')})`);
  }
  const kinds = new Set<RequestKind>();
  const operations = new Set<string>();
  const allowAll = truthy(obj['allow_all'], `${where}.allow_all`);
  if (truthy(obj['baking'], `${where}.baking`) || allowAll) CONSENSUS_KINDS.forEach((k) => kinds.add(k));
  for (const vote of stringList(obj['voting'], `${where}.voting`)) {
    const name = VOTES[vote.toLowerCase()];
    if (name === undefined) throw invalid(`${where}.voting`, `"${vote}" is not aye, yay, nay or pass`);
    operations.add(`ballot:${name}`);
  }
  for (const name of stringList(obj['allow'], `${where}.allow`)) {
    const kind = KIND_NAMES[name];
    if (kind === undefined) throw invalid(`${where}.allow`, `"${name}" is not one of ${Object.keys(KIND_NAMES).join(', ')}`);
    kinds.add(kind);
  }
  for (const name of stringList(obj['generic'], `${where}.generic`)) {
    const canonical = name.replace(/^ballot:aye$/, 'ballot:yay');
    if (UNPARSED_OPERATION_NAMES.has(canonical))
      throw invalid(
        `${where}.generic`,
        `"${name}" is never signed by this signer: its layout is not parsed, so it could hide other operations in a batch (docs/tezos.md)`,
      );
    if (!GENERIC_NAMES.has(canonical)) throw invalid(`${where}.generic`, `"${name}" is not a known operation (${[...GENERIC_NAMES].join(', ')})`);
    operations.add(canonical);
  }
  if (operations.size > 0 || allowAll) kinds.add('generic');
  // 0x05 Michelson data can authorize contract actions, so only an explicit `michelson: true` allows it (never allow_all).
  if (truthy(obj['michelson'], `${where}.michelson`)) kinds.add('michelson');
  const chainIds = new Set([...stringList(obj['chains'], `${where}.chains`), ...stringList(obj['allowed_chains'], `${where}.allowed_chains`)]);
  for (const chain of chainIds) {
    if (b58checkDecode('Net', chain) === null) throw invalid(`${where}.chains`, `"${chain}" is not a chain id (Net…)`);
  }
  return { kinds, operations, anyOperation: allowAll, chainIds, blsKey };
}

/** The seed writes flags as 0/1 (Python truthiness); booleans work too. */
function truthy(value: unknown, where: string): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value === 'boolean') return value;
  if (value === 0 || value === 1) return value === 1;
  throw invalid(where, 'expected true/false or 0/1');
}
