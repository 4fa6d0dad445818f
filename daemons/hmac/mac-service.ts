// The MAC listener (9850): a line of data in, one lowercase hex HMAC-SHA256 tag per 2048-byte
// chunk out, joined by spaces (JSON mode adds the mode, key ids and key version).
import { DaemonError } from '../../lib/errors.js';
import { chunk, trimAsciiWhitespace } from '../../lib/protocol/line-reader.js';
import { formatErrorLine, type ReplyMode } from '../../lib/protocol/reply-format.js';
import type { LineService } from '../../lib/server/request-runner.js';
import type { LiveSecrets } from './secret-holder.js';
import { UNVERSIONED } from './secret-set.js';
import { tagChunks, type ChunkTag } from './tags.js';
import { thenNowOrLater } from './now-or-later.js';

export interface HmacLineDeps {
  secrets: LiveSecrets;
  chunkBytes: number;
  reply: ReplyMode;
}

export function createMacService(deps: HmacLineDeps): LineService {
  return {
    handle(line, ctx) {
      const content = trimAsciiWhitespace(line);
      if (content.length === 0) throw new DaemonError('BAD_REQUEST', 'empty request: send the data to MAC, one message per line');
      const chunks = chunk(content, deps.chunkBytes);
      const set = deps.secrets.current();
      const version = set.versions[0]!;
      ctx.fields['mode'] = set.mode;
      ctx.fields['bytes'] = content.length;
      ctx.fields['chunks'] = chunks.length;
      if (version !== UNVERSIONED) ctx.fields['keyVersion'] = version;
      const reply = (tags: readonly ChunkTag[]): string =>
        deps.reply === 'json'
          ? JSON.stringify({
              mode: set.mode,
              ...(version !== UNVERSIONED ? { keyVersion: version } : {}),
              tags: tags.map((t) => t.tag.toString('hex')),
              keyIds: tags.map((t) => t.keyId),
            })
          : tags.map((t) => t.tag.toString('hex')).join(' ');
      // Secrets in memory answer at once: the line server goes on to the next pipelined line without a promise turn.
      return thenNowOrLater(tagChunks(set, chunks, version), reply);
    },
    formatError: (err: DaemonError) => formatErrorLine(err, deps.reply),
  };
}
