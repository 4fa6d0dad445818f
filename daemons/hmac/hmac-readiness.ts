// hmac's readiness part and tag count: the live secret set makes a tag with every key version it
// serves (for token-held secrets, one HSM call per secret), and the listeners count the tags they made.
import { KEY_PROBE_INTERVAL_MS } from '../../lib/limits.js';
import type { ReadinessPart } from '../../lib/operations/readiness.js';
import type { LineService } from '../../lib/server/request-runner.js';
import type { LiveSecrets } from './secret-holder.js';
import { TAG_BYTES } from './secret-set.js';

const PROBE_DATA = Buffer.from('signerd readiness probe');

export function secretsPart(secrets: LiveSecrets): ReadinessPart {
  return {
    name: 'secrets',
    intervalMs: KEY_PROBE_INTERVAL_MS,
    reprobeOnFault: true,
    async probe() {
      const set = secrets.current();
      for (const version of set.versions) {
        const tag = await set.mac(PROBE_DATA, set.probeIndex ?? 0, version);
        if (tag.length !== TAG_BYTES) throw new Error('a probe tag has the wrong length');
      }
    },
  };
}

/** The service, counting its tags (one per chunk, as its log line's `chunks` says) once a request succeeded. */
export function countingTags(service: LineService, count: (tags: number) => void): LineService {
  return {
    async handle(line, ctx) {
      const reply = await service.handle(line, ctx);
      const chunks = ctx.fields['chunks'];
      if (typeof chunks === 'number') count(chunks);
      return reply;
    },
    formatError: (err) => service.formatError(err),
  };
}
