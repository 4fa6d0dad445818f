// tezos' readiness parts and refusal count: every served key signs a probe payload that verifies
// with its public key; the watermark store answers a read and takes a write (through Redis' durability gate) and its
// state directory takes a synced file; refused sign requests are counted by kind.
import { STORE_PROBE_INTERVAL_MS } from '../../lib/limits.js';
import type { ProbeTrigger, ReadinessPart } from '../../lib/operations/readiness.js';
import { keyPart, probeDirectory } from '../../lib/operations/probes.js';
import { randomBytes } from 'node:crypto';
import type { ListenerMetrics } from '../../lib/server/listener-metrics.js';
import { verifyTezosSignature, type TezosKey } from './keys/tezos-key.js';
import type { WatermarkStore } from './watermark/watermark-store.js';

/** 0x05 (Michelson packed data) and text: no block, attestation or operation could ever read as it. */
const PROBE_PAYLOAD = Buffer.concat([Buffer.from([0x05]), Buffer.from('signerd readiness probe')]);
/** The slot the probe reads: a chain id no network has, never written. */
const PROBE_SLOT = { chainId: 'signerd-readiness-probe', pkh: 'none', kind: 'block' as const };

export function tezosKeyPart(key: TezosKey): ReadinessPart {
  return keyPart(key.pkh, async () => verifyTezosSignature(key.publicKey, PROBE_PAYLOAD, await key.sign(PROBE_PAYLOAD)));
}

/**
 * The probe writes no mark: a probe slot would show in `watermark show` and travel with every export.
 * Instead the store answers a read (Redis: only once its persistence check passed), takes a write
 * through the path a reserve takes (probeWrite: its lock, permissions and durability wait), and the
 * directory whose SQLite file holds the marks (or the host floor under Redis) takes a new synced file.
 */
export function watermarkPart(marks: WatermarkStore, stateDir: string | null, changes?: ProbeTrigger): ReadinessPart {
  const probeId = randomBytes(16).toString('hex');
  return {
    name: 'watermarks',
    intervalMs: STORE_PROBE_INTERVAL_MS,
    ...(changes ? { changes } : {}),
    async probe() {
      if (stateDir !== null) await probeDirectory(stateDir, probeId);
      await marks.read(PROBE_SLOT);
      await marks.probeWrite(probeId);
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
