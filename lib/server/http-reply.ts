// Replies leaving the HTTP server: a body or a file streamed, cut when the client stops reading; error
// replies with their code and retry hint; a request given up on mid-body; and the last bytes of a
// connection the server hangs up on.
import fs from 'node:fs/promises';
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isRetryable, type DaemonError, type ErrorCode } from '../errors.js';
import { FILE_STREAM_CHUNK_BYTES, HTTP_CLOSE_GRACE_MS, HTTP_RETRY_AFTER_S } from '../limits.js';
import { ERROR_CODE_HEADER } from '../protocol/http-status.js';
import type { HttpReply, HttpService } from './http-service.js';

/** Sends a reply (a file body is streamed); throws when the client went away (or stopped reading for stallMsMax) before all of it was sent. */
export async function send(res: http.ServerResponse, reply: HttpReply, stallMsMax: number): Promise<void> {
  if (res.headersSent) return;
  const socket = res.req.socket;
  if (res.destroyed || socket.destroyed) throw new Error('the connection closed before the reply was sent');
  // A slow reader is fine; one that stops reading would hold the connection, a file and a buffer
  // forever. The socket's own timer sees every write that completes, so only a stall trips it.
  res.setTimeout(stallMsMax, () => res.destroy());
  if (reply.file) {
    const handle = await fs.open(reply.file, 'r');
    let size: number;
    try {
      // The length of the file as opened: a file replaced between a stat and the open cannot mismatch it.
      size = (await handle.stat()).size;
      res.writeHead(reply.status, { ...reply.headers, 'content-length': String(size) });
    } catch (err) {
      await handle.close(); // the stream below, once made, closes it on every path
      throw err;
    }
    // No bigger a buffer than the file needs: a small file would otherwise cost a whole chunk.
    const stream = handle.createReadStream({ highWaterMark: Math.max(1, Math.min(FILE_STREAM_CHUNK_BYTES, size)) });
    let handed = 0;
    stream.on('data', (chunk: string | Buffer) => (handed += chunk.length));
    // node:http may never end a reply it had not yet given the connection to when that died; the
    // socket's close ends the copy then, and the file is closed.
    const copied = pipeline(stream, res);
    copied.catch(() => undefined);
    let gone = (): void => undefined;
    const socketClosed = new Promise<void>((resolve) => socket.once('close', (gone = resolve)));
    try {
      if ((await Promise.race([copied.then(() => 'sent'), socketClosed.then(() => 'closed')])) === 'closed') {
        stream.destroy();
        // As below: all of the file handed over before the hang-up is a reply delivered.
        if (handed !== size) throw new Error('the connection closed before the reply was sent');
      }
    } catch (err) {
      // A client that has all content-length bytes may hang up before the file's end reaches the
      // pipeline (curl does): the reply was delivered, not lost.
      if (handed === size && (err as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE') return;
      throw err;
    } finally {
      socket.off('close', gone);
    }
    return;
  }
  const body = typeof reply.body === 'string' ? Buffer.from(reply.body) : (reply.body ?? Buffer.alloc(0));
  res.writeHead(reply.status, { ...reply.headers, 'content-length': String(body.length) });
  await new Promise<void>((resolve, reject) => {
    // 'finish' never comes for a reply whose connection went first; the reply's 'close' does, or, for
    // one node:http had not yet given the connection to, the socket's.
    const settle = (): void => {
      res.off('close', settle);
      socket.off('close', settle);
      if (res.writableFinished) resolve();
      else reject(new Error('the connection closed before the reply was sent'));
    };
    res.once('close', settle);
    socket.once('close', settle);
    res.end(body);
  });
}

/**
 * Closes a connection for good once `last` is flushed (at most HTTP_CLOSE_GRACE_MS later if the
 * client does not take it), whatever the client does with its own end: node:http lets sockets stay
 * half-open, and end() alone would keep this one (and its place under the connection cap).
 */
function hangUp(socket: Duplex, last: string): void {
  if (!socket.writable) return void socket.destroy();
  const timer = setTimeout(() => socket.destroy(), HTTP_CLOSE_GRACE_MS);
  socket.once('close', () => clearTimeout(timer));
  socket.end(last, () => socket.destroy());
}

/**
 * The last reply of a connection whose request never parsed (or is not served at all, as CONNECT):
 * the status with the error code in its header, Retry-After for a retryable code, no body; then hangUp.
 */
export function hangUpWith(socket: Duplex, status: number, code: ErrorCode): void {
  const retry = isRetryable(code) ? `retry-after: ${HTTP_RETRY_AFTER_S}\r\n` : '';
  hangUp(socket, `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nconnection: close\r\n${ERROR_CODE_HEADER}: ${code}\r\n${retry}content-length: 0\r\n\r\n`);
}

/**
 * A service's error reply, with the error code in its header whatever the body's shape; every
 * retryable code says when to come back (the service may have said so already), and a 405 says which
 * methods the path takes.
 */
export function errorReply(service: Pick<HttpService, 'formatError'>, err: DaemonError): HttpReply {
  const reply = service.formatError(err);
  const headers: Record<string, string> = { ...reply.headers, [ERROR_CODE_HEADER]: err.code };
  if (isRetryable(err.code) && !Object.keys(headers).some((name) => name.toLowerCase() === 'retry-after')) {
    const seconds = err.retryAfterMs === undefined ? HTTP_RETRY_AFTER_S : Math.max(1, Math.ceil(err.retryAfterMs / 1000));
    headers['retry-after'] = String(seconds);
  }
  if (err.allow !== undefined) headers['allow'] = err.allow.join(', ');
  return { ...reply, headers };
}

/**
 * Answers a request the server gives up on while its body is still arriving, then destroys the
 * request with `err`: that closes the connection and ends the upload's reader, which fails with
 * `err`. (Once its reply is out, node:http no longer ends an unread request when the connection closes.)
 */
export function cutRequest(service: Pick<HttpService, 'formatError'>, req: http.IncomingMessage, res: http.ServerResponse, err: DaemonError): void {
  const giveUp = (): void => void req.destroy(err);
  if (res.headersSent || res.destroyed) return giveUp();
  const reply = errorReply(service, err);
  const body = Buffer.from(reply.body ?? '');
  res.writeHead(reply.status, { ...reply.headers, connection: 'close', 'content-length': String(body.length) });
  res.end(body, giveUp);
  // A client that does not take its reply does not keep the connection either.
  setTimeout(giveUp, HTTP_CLOSE_GRACE_MS);
}
