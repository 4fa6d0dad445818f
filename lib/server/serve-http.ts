// The HTTP front end for daemons whose real clients speak HTTP (octez bakers, Yocto classes,
// cryptoserver clients). node:http, no framework: bounded bodies, request deadlines, a
// connection cap, drain on close. Routing and body shapes belong to the daemon's service.
import http from 'node:http';
import type net from 'node:net';
import type { Logger } from 'pino';
import { DaemonError, toDaemonError } from '../errors.js';
import { HTTP_HEADERS_MS_MAX, HTTP_KEEP_ALIVE_MS, type Limits } from '../limits.js';
import type { RequestContext } from './serve-tcp.js';

export interface HttpRequest {
  method: string;
  /** Decoded path without the query string. */
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface HttpReply {
  status: number;
  headers?: Record<string, string>;
  body: Buffer | string;
}

export interface HttpService {
  handle(req: HttpRequest, ctx: RequestContext): Promise<HttpReply>;
  formatError(err: DaemonError): HttpReply;
}

export interface HttpServerOptions {
  host: string;
  port: number;
  limits: Limits;
  log: Logger;
  service: HttpService;
}

export interface RunningHttpServer {
  readonly address: net.AddressInfo;
  close(): Promise<void>;
}

export async function startHttpServer(opts: HttpServerOptions): Promise<RunningHttpServer> {
  const { limits, log, service } = opts;
  let nextReq = 0;
  let draining = false;

  const server = http.createServer(
    { requestTimeout: limits.httpRequestMsMax, headersTimeout: Math.min(limits.httpRequestMsMax, HTTP_HEADERS_MS_MAX), keepAliveTimeout: HTTP_KEEP_ALIVE_MS },
    (req, res) => {
      const ctx: RequestContext = { conn: 0, req: ++nextReq, fields: {} };
      const started = process.hrtime.bigint();
      void (async () => {
        let reply: HttpReply;
        let outcome = 'ok';
        try {
          if (draining) throw new DaemonError('SHUTTING_DOWN', 'daemon is shutting down');
          const body = await readBody(req, limits.httpBodyBytesMax);
          const url = new URL(req.url ?? '/', 'http://localhost');
          reply = await service.handle(
            { method: req.method ?? 'GET', path: decodePath(url.pathname), query: url.searchParams, headers: req.headers, body },
            ctx,
          );
        } catch (thrown) {
          const err = toDaemonError(thrown);
          outcome = err.code;
          if (err.code === 'INTERNAL') log.error({ req: ctx.req, err: thrown }, 'internal error');
          reply = service.formatError(err);
        }
        log.info(
          {
            req: ctx.req,
            http: true,
            method: req.method,
            path: logPath(req.url),
            status: reply.status,
            ...ctx.fields,
            outcome,
            ms: Number((process.hrtime.bigint() - started) / 1000n) / 1000,
          },
          'request',
        );
        if (res.headersSent || res.destroyed) return;
        const body = typeof reply.body === 'string' ? Buffer.from(reply.body) : reply.body;
        res.writeHead(reply.status, { 'content-length': String(body.length), ...reply.headers });
        res.end(body);
      })();
    },
  );
  server.maxConnections = limits.connectionsMax;
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    // Node reports a request that ran past requestTimeout here too: that one is a 408, not a 400.
    const status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
    if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    else socket.destroy();
    log.debug({ err: err.message }, 'http client error');
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: opts.host, port: opts.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    address: server.address() as net.AddressInfo,
    async close() {
      draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const deadline = setTimeout(() => server.closeAllConnections(), limits.drainMsMax);
      await closed;
      clearTimeout(deadline);
    },
  };
}

/** Reads the whole body, refusing (413) as soon as it passes bytesMax rather than after. */
function readBody(req: http.IncomingMessage, bytesMax: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > bytesMax) {
    req.resume();
    return Promise.reject(new DaemonError('PAYLOAD_TOO_LARGE', `body larger than ${bytesMax} bytes`));
  }
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > bytesMax) {
        req.removeAllListeners('data');
        req.resume();
        reject(new DaemonError('PAYLOAD_TOO_LARGE', `body larger than ${bytesMax} bytes`));
        return;
      }
      parts.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', (err) => reject(new DaemonError('BAD_REQUEST', `request body: ${err.message}`)));
  });
}

/** A malformed %-escape is the client's error (400), not ours. */
function decodePath(pathname: string): string {
  try {
    return decodeURIComponent(pathname);
  } catch {
    throw new DaemonError('BAD_REQUEST', 'malformed percent-escape in the path');
  }
}

function logPath(url: string | undefined): string {
  const path = (url ?? '').split('?')[0] ?? '';
  return path.length > 120 ? path.slice(0, 120) + '…' : path;
}
