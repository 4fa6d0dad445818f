// firmware's key readiness: one part per distinct key its key root holds in an HSM, proven by a probe
// signature that must verify (as every daemon's keys are), with at most HSM_KEY_PROBES_MAX probe
// signatures in flight at once however many machines the root serves. Keys in files sign in memory.
import { verifyMessageSignature, type DigestScheme } from '../../lib/crypto/digest-schemes.js';
import { DaemonError } from '../../lib/errors.js';
import { PROBE_MS_MAX } from '../../lib/limits.js';
import { keyPart, PROBE_MESSAGE } from '../../lib/operations/probes.js';
import type { ReadinessPart } from '../../lib/operations/readiness.js';
import { HSM_KEY_PROBES_MAX } from './firmware-limits.js';
import type { DigestSigner } from './formats/digest-signer.js';
import { SLOTS, type KeySlot } from './keys/key-slots.js';

/** The keys the parts probe: the key root's (not an audited root's signers, so probes never reach the transparency log). */
export interface ProbedKeys {
  keys(): ReadonlyArray<{ slot: KeySlot; backend: 'file' | 'pkcs11'; signer: DigestSigner }>;
}

/**
 * A key shared by several machines or slots (symlinked directories, one token object named twice) is
 * one part, probed through its first opening with its slot's first scheme: one signature per key per
 * probe. The other openings share its module, so a reopen by the probe is seen by them too.
 */
export function hsmKeyParts(root: ProbedKeys): ReadinessPart[] {
  const turns = probeTurns(HSM_KEY_PROBES_MAX);
  const probed = new Map<string, { signer: DigestSigner; scheme: DigestScheme }>();
  for (const { slot, backend, signer } of root.keys()) {
    if (backend !== 'pkcs11' || probed.has(signer.keyId)) continue;
    const scheme = SLOTS[slot].schemes[signer.type][0];
    if (scheme !== undefined) probed.set(signer.keyId, { signer, scheme });
  }
  return [...probed].map(([keyId, { signer, scheme }]) =>
    keyPart(keyId, async () => {
      // checkedSigner withholds a signature that does not verify; the part checks again, as every key part does.
      const signature = await turns.run(() => signer.signMessage(scheme, PROBE_MESSAGE));
      return verifyMessageSignature(scheme, signer.publicKey, PROBE_MESSAGE, signature);
    }),
  );
}

/**
 * At most `max` probe signatures at once. A probe that gets no turn within the probe deadline gives
 * its place in the queue up (its part fails anyway), so waiters never pile up behind a hung HSM; a
 * turn is held until the HSM call settles (its own deadline, backendCallMsMax), not only the probe's.
 */
function probeTurns(max: number): { run<T>(work: () => Promise<T>): Promise<T> } {
  let active = 0;
  const waiting: Array<() => void> = [];
  const take = (): Promise<void> => {
    if (active < max) {
      active++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const turn = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        waiting.splice(waiting.indexOf(turn), 1);
        reject(new DaemonError('BACKEND_TIMEOUT', `no HSM probe turn within ${PROBE_MS_MAX} ms (other keys' probes were slow)`));
      }, PROBE_MS_MAX);
      waiting.push(turn);
    });
  };
  const give = (): void => {
    // A turn passes straight to the next waiter; `active` drops only when nobody waits.
    const next = waiting.shift();
    if (next) next();
    else active--;
  };
  return {
    async run(work) {
      await take();
      try {
        return await work();
      } finally {
        give();
      }
    },
  };
}
