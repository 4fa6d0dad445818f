// firmware's metrics: each upload is counted by format (the route's last path segment) with its
// outcome and bytes, and the key root's keys are signerd_key_info series, bounded. (Its readiness
// parts: the key root staying readable, lib/operations/probes.ts' readableDirectoryPart, and each
// HSM-held key signing, firmware-readiness.ts.)
import type { HttpService } from '../../lib/server/http-service.js';
import { KEY_SLOTS, type KeySlot } from './keys/key-slots.js';

/** What the key-info series read of the key root. */
export interface InfoKeys {
  keys(): ReadonlyArray<{ selector: string; slot: KeySlot; backend: 'file' | 'pkcs11'; signer: { keyId: string; description: string } }>;
}

interface KeyInfo {
  keyId: string;
  algorithm: string;
  backend: string;
}

/**
 * signerd_key_info's series for a key root: one per distinct key (its id as KEYINFO shows it, its
 * description such as rsa-2048, where it is held), so a key several machines share is one series;
 * in machine/distro then slot order, at most `max` of them. `total`: how many there were.
 */
export function keyInfoSeries(root: InfoKeys, max: number): { series: KeyInfo[]; total: number } {
  const sorted = [...root.keys()].sort((a, b) =>
    a.selector === b.selector ? KEY_SLOTS.indexOf(a.slot) - KEY_SLOTS.indexOf(b.slot) : a.selector < b.selector ? -1 : 1,
  );
  const distinct = new Map<string, KeyInfo>();
  for (const { backend, signer } of sorted) {
    const info = { keyId: signer.keyId, algorithm: signer.description, backend };
    distinct.set(`${info.keyId} ${info.algorithm} ${info.backend}`, info);
  }
  return { series: [...distinct.values()].slice(0, max), total: distinct.size };
}

interface UploadCounts {
  upload(format: string, outcome: string, bytes: number): void;
}

/** The service, counting uploads; the format comes from a route that exists, so the label set is the route table. */
export function countingUploads(service: HttpService, counts: UploadCounts): HttpService {
  if (!service.upload) return service;
  const upload = service.upload.bind(service);
  return {
    ...service,
    upload(head) {
      const route = upload(head);
      if (route === null) return null;
      const format = head.path.replace(/\/+$/, '').split('/').pop() ?? 'unknown';
      const bytes = Number(head.headers['content-length'] ?? 0) || 0;
      // Counted with the outcome the client was given (the request record's), refusals before the
      // work and a deadline's 504 included: not with how the work itself ended.
      return {
        ...route,
        answered(outcome) {
          route.answered?.(outcome);
          counts.upload(format, outcome, bytes);
        },
      };
    },
  };
}
