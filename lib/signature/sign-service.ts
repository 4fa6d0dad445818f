// The sign daemons' request handler: trim the line as the seed did, cut it into 2048-byte
// chunks, sign each, record each in the validity store (and, with a transparency log, make its
// entry durable), and only then reply. A signature whose record or entry could not be written is never returned.
import crypto from 'node:crypto';
import { DaemonError } from '../errors.js';
import type { SigningKey } from '../keys/signing-key.js';
import { chunk, trimAsciiWhitespace } from '../protocol/line-reader.js';
import { pythonBytesRepr } from '../protocol/python-repr.js';
import { formatErrorLine, type ReplyMode } from '../protocol/reply-format.js';
import type { LineService } from '../server/request-runner.js';
import type { ValidityStore } from '../store/validity-store.js';
import type { LogEvent } from '../transparency/log-entry.js';

/** Where signatures are recorded for audit: the daemon's name and the log's append. */
interface SignatureAudit {
  source: string;
  log: { append(event: LogEvent): Promise<number> };
}

export interface SignServiceDeps {
  key: SigningKey;
  store: ValidityStore;
  /** Records expire after this many seconds; null keeps them until revoked. */
  ttlSeconds: number | null;
  chunkBytes: number;
  reply: ReplyMode;
  /** null: no transparency log. */
  transparencyLog: SignatureAudit | null;
}

export function createSignService(deps: SignServiceDeps): LineService {
  const { key, store } = deps;
  const audit = deps.transparencyLog;
  const signEvent = (source: string, part: Uint8Array, signature: Buffer, client: string | undefined): LogEvent => ({
    kind: 'sign',
    source,
    ...(client === undefined ? {} : { client }),
    keyId: key.keyId,
    algorithm: key.algorithm,
    messageSha256: crypto.createHash('sha256').update(part).digest(),
    signature,
  });
  return {
    async handle(line, ctx) {
      const content = trimAsciiWhitespace(line);
      const chunks = chunk(content, deps.chunkBytes);
      ctx.fields['keyId'] = key.keyId;
      ctx.fields['bytes'] = content.length;
      ctx.fields['chunks'] = chunks.length;
      // Chunks are signed concurrently: node:crypto runs them on the thread pool.
      const signatures = await Promise.all(chunks.map((part) => key.sign(part)));
      const createdMs = Date.now();
      const expiresMs = deps.ttlSeconds === null ? null : createdMs + deps.ttlSeconds * 1000;
      const hex = signatures.map((sig) => sig.toString('hex'));
      // The log's commit (an fsync shared with other requests) runs while the records are written.
      const logged = audit === null ? null : Promise.all(chunks.map((part, i) => audit.log.append(signEvent(audit.source, part, signatures[i]!, ctx.client))));
      const recorded = (async () => {
        for (let i = 0; i < chunks.length; i++) {
          await store.put({ signature: hex[i]!, message: Buffer.from(chunks[i]!), keyId: key.keyId, algorithm: key.algorithm, createdMs, expiresMs });
        }
      })();
      const [, indexes] = await Promise.all([recorded, logged]);
      if (indexes) ctx.fields['logIndex'] = indexes[0];
      if (deps.reply === 'json') return JSON.stringify({ algorithm: key.algorithm, keyId: key.keyId, signatures: hex });
      return chunks.map((part, i) => `(${pythonBytesRepr(part)}, b'${hex[i]}')`).join(' ');
    },
    formatError: (err: DaemonError) => formatErrorLine(err, deps.reply),
  };
}
