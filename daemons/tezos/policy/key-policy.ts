// Per-key signing policy: which request kinds, generic operations (ballots by vote) and chains a key
// may sign. Deny by default; every refusal is NOT_ALLOWED with a message naming what was refused.
import { DaemonError } from '../../../lib/errors.js';
import type { RequestKind, SignRequest } from '../signing/sign-request.js';

export interface KeyPolicy {
  /** Request kinds this key signs; `authenticated` (0x04) is never among them. */
  readonly kinds: ReadonlySet<RequestKind>;
  /** Generic operation names allowed: `transaction`, `stake`, ..., `ballot` (any vote) or `ballot:yay|nay|pass`. */
  readonly operations: ReadonlySet<string>;
  /** Every generic operation kind is allowed (the seed's `allow_all`). */
  readonly anyOperation: boolean;
  /** Chain ids (b58 `Net…`) consensus requests may name; empty: any chain. */
  readonly chainIds: ReadonlySet<string>;
  /** The key is tz4: only it may sign BLS-mode consensus tags (40, 41). */
  readonly blsKey: boolean;
}

const BLS_MODE_TAGS = new Set([40, 41]);

export function checkPolicy(policy: KeyPolicy, req: SignRequest): void {
  if (req.kind === 'authenticated') throw new DaemonError('NOT_ALLOWED', 'authentication requests (magic byte 0x04) are never signed with a managed key');
  if (!policy.kinds.has(req.kind)) throw new DaemonError('NOT_ALLOWED', `policy does not allow ${req.kind} requests for this key`);
  if (req.chainId !== null && policy.chainIds.size > 0 && !policy.chainIds.has(req.chainId)) {
    throw new DaemonError('NOT_ALLOWED', `policy does not allow chain ${req.chainId} for this key`);
  }
  if (req.consensusTag !== null && BLS_MODE_TAGS.has(req.consensusTag) && !policy.blsKey) {
    throw new DaemonError('NOT_ALLOWED', `consensus tag ${req.consensusTag} is BLS mode; only tz4 keys sign it`);
  }
  if (req.kind === 'generic') checkOperations(policy, req);
}

function checkOperations(policy: KeyPolicy, req: SignRequest): void {
  if (policy.anyOperation) return;
  let ballot = 0;
  for (const kind of req.operationKinds) {
    if (kind === 'ballot') {
      const vote = req.ballots[ballot++];
      if (policy.operations.has('ballot') || policy.operations.has(`ballot:${vote}`)) continue;
      throw new DaemonError('NOT_ALLOWED', `policy does not allow a ${vote} ballot for this key`);
    }
    if (!policy.operations.has(kind)) throw new DaemonError('NOT_ALLOWED', `policy does not allow operation ${kind} for this key`);
  }
}
