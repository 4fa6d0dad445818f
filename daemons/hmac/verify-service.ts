// The verify listener (9851): `<hex tag> <data>` in, `Valid.` or `Invalid.` out. For data longer
// than one chunk the tag field is the MAC reply's tags concatenated without spaces.
import { DaemonError } from '../../lib/errors.js';
import { decodeHex } from '../../lib/protocol/encoding.js';
import { chunk, trimAsciiWhitespace } from '../../lib/protocol/line-reader.js';
import { formatErrorLine } from '../../lib/protocol/reply-format.js';
import type { LineService } from '../../lib/server/request-runner.js';
import type { HmacLineDeps } from './mac-service.js';
import { UNVERSIONED } from './secret-set.js';
import { verifyChunks, type TagVerdict } from './tags.js';
import { thenNowOrLater } from './now-or-later.js';

const VALID_REPLY = 'Valid.';
const INVALID_REPLY = 'Invalid.';

/** Splits a trimmed line at its first run of ASCII whitespace: the tag field, then the data. */
export function splitVerifyLine(content: Buffer): { tagText: string; data: Buffer } {
  let end = 0;
  while (end < content.length && content[end] !== 0x20 && content[end] !== 0x09) end++;
  return { tagText: content.subarray(0, end).toString('latin1'), data: trimAsciiWhitespace(content.subarray(end)) };
}

export function createVerifyService(deps: HmacLineDeps & { lineBytesMax: number }): LineService {
  return {
    handle(line, ctx) {
      const { tagText, data } = splitVerifyLine(trimAsciiWhitespace(line));
      if (tagText.length === 0 || data.length === 0) throw new DaemonError('BAD_REQUEST', 'expected `<hex tag> <data>`');
      const given = decodeHex(tagText, 'tag', deps.lineBytesMax);
      const chunks = chunk(data, deps.chunkBytes);
      const set = deps.secrets.current();
      ctx.fields['mode'] = set.mode;
      ctx.fields['bytes'] = data.length;
      ctx.fields['chunks'] = chunks.length;
      const reply = (verdict: TagVerdict): string => {
        ctx.fields['valid'] = verdict.valid;
        if (verdict.valid && verdict.version !== UNVERSIONED) ctx.fields['keyVersion'] = verdict.version;
        if (!verdict.valid) ctx.fields['reason'] = verdict.reason;
        if (deps.reply === 'json') {
          return JSON.stringify(
            verdict.valid ? { valid: true, mode: set.mode, ...(verdict.version !== UNVERSIONED ? { keyVersion: verdict.version } : {}) } : verdict,
          );
        }
        return verdict.valid ? VALID_REPLY : INVALID_REPLY;
      };
      // Secrets in memory answer at once, as the MAC listener does.
      return thenNowOrLater(verifyChunks(set, chunks, given), reply);
    },
    formatError: (err: DaemonError) => formatErrorLine(err, deps.reply),
  };
}
