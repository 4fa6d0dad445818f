// tezos' readiness parts and refusal count: every served key signs a probe payload that verifies
// with its public key; the watermark store takes a durable reserve on a probe slot and reads it back;
// refused sign requests are counted by kind (watermark, policy, authentication).
import { DaemonError } from '../../lib/errors.js';
import { KEY_PROBE_INTERVAL_MS, STORE_PROBE_INTERVAL_MS } from '../../lib/limits.js';
import type { ReadinessPart } from '../../lib/operations/readiness.js';
import type { ListenerMetrics } from '../../lib/server/listener-metrics.js';
import { verifyTezosSignature, type TezosKey } from './keys/tezos-key.js';
import type { WatermarkStore } from './watermark/watermark-store.js';

/** 0x05 (Michelson packed data) and text: no block, attestation or operation could ever read as it. */
const PROBE_PAYLOAD = Buffer.concat([Buffer.from([0x05]), Buffer.from('signerd readiness probe')]);
/** The probe's slot: a chain id no network has, so `watermark show` names it plainly. */
const PROBE_SLOT = { chainId: 'signerd-readiness-probe', kind: 'block' as const };

export function tezosKeyPart(key: TezosKey): ReadinessPart {
  return {
    name: `key ${key.pkh}`,
    intervalMs: KEY_PROBE_INTERVAL_MS,
    reprobeOnFault: true,
    async probe() {
      const signature = await key.sign(PROBE_PAYLOAD);
      if (!verifyTezosSignature(key.publicKey, PROBE_PAYLOAD, signature))
        throw new DaemonError('SIGNATURE_CHECK_FAILED', 'the key made a signature that does not verify with its public key');
    },
  };
}

/**
 * A durable reserve at a level that grows with time (so daemons sharing a store each advance the one
 * probe slot, and a reserve refused because another host's probe went higher still proves the store
 * answered), then a read that must find a mark at least that high.
 */
export function watermarkPart(marks: WatermarkStore, hostId: string): ReadinessPart {
  const slot = { ...PROBE_SLOT, pkh: hostId };
  return {
    name: 'watermarks',
    intervalMs: STORE_PROBE_INTERVAL_MS,
    async probe() {
      const level = Math.floor(Date.now() / 1000);
      const mark = { level, round: Date.now() % 1000, digest: '' };
      await marks.reserve(slot, mark);
      const back = await marks.read(slot);
      if (!back || back.level < level) throw new DaemonError('STORE_UNAVAILABLE', 'a watermark reserved on the probe slot did not read back');
    },
  };
}

/** Refusal outcomes of a sign request, by the kind an operator alerts on. */
const REFUSAL_KINDS: Record<string, string> = { WATERMARK_REJECTED: 'watermark', NOT_ALLOWED: 'policy', UNAUTHORIZED: 'authentication' };

export function countingRefusals(metrics: ListenerMetrics, count: (kind: string) => void): ListenerMetrics {
  return {
    record(outcome, seconds) {
      metrics.record(outcome, seconds);
      const kind = REFUSAL_KINDS[outcome];
      if (kind !== undefined) count(kind);
    },
    refused: (reason) => metrics.refused(reason),
    observe: (load) => metrics.observe(load),
  };
}
