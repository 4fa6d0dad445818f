// firmware's upload counts: each upload is counted by format (the route's last path segment) with its
// outcome and bytes. (Its readiness parts: the key root staying readable, lib/operations/probes.ts'
// readableDirectoryPart, and each HSM-held key signing, firmware-readiness.ts.)
import { toDaemonError } from '../../lib/errors.js';
import type { HttpService } from '../../lib/server/http-service.js';

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
      return {
        fields: route.fields,
        async run(form, ctx) {
          try {
            const reply = await route.run(form, ctx);
            counts.upload(format, 'ok', bytes);
            return reply;
          } catch (err) {
            counts.upload(format, toDaemonError(err).code, bytes);
            throw err;
          }
        },
      };
    },
  };
}
