// cryptoserver's HTTP API: `POST /hmac` with the raw message as the body returns the 32 raw tag
// bytes, so the seed's `requests` clients work unchanged. Unlike the seed, errors get real
// statuses (404, 405, 413, 503) instead of 400 for everything.
import { DaemonError } from '../../lib/errors.js';
import { HTTP_STATUS } from '../../lib/protocol/http-status.js';
import { formatErrorLine } from '../../lib/protocol/reply-format.js';
import type { HttpService } from '../../lib/server/http-service.js';
import type { LiveSecrets } from './secret-holder.js';
import { tagChunks } from './tags.js';

const HMAC_PATH = '/hmac';

export function createHmacHttpService(secrets: LiveSecrets): HttpService {
  return {
    async handle(req, ctx) {
      if (req.path !== HMAC_PATH) throw new DaemonError('NOT_FOUND', `no such path; POST the message to ${HMAC_PATH}`);
      if (req.method !== 'POST') throw new DaemonError('METHOD_NOT_ALLOWED', `${HMAC_PATH} takes POST only`, { allow: ['POST'] });
      // The body is used exactly as received, as the seed did: no trimming and no chunking.
      if (req.body.length === 0) throw new DaemonError('BAD_REQUEST', 'empty body: POST the message to MAC');
      const set = secrets.current();
      const [tag] = await tagChunks(set, [req.body]);
      ctx.fields['mode'] = set.mode;
      ctx.fields['bytes'] = req.body.length;
      return { status: 200, headers: { 'content-type': 'application/octet-stream', 'x-key-id': tag!.keyId }, body: tag!.tag };
    },
    formatError(err) {
      return { status: HTTP_STATUS[err.code], headers: { 'content-type': 'text/plain; charset=utf-8' }, body: `${formatErrorLine(err, 'seed')}\n` };
    },
  };
}
