// The HTTP server of every daemon whose real clients speak HTTP (octez bakers, Yocto classes,
// cryptoserver clients). node:http, no framework: request deadlines, a connection cap, drain on
// close, one log record per request; bodies read whole with a bound, or, for a service's upload
// routes, streamed to a private directory behind an admission queue; plain HTTP on loopback or
// HTTPS with client channels (lib/channels). Routing and body shapes belong to the daemon's
// service (http-service.ts); the connection and request lifecycle is in this file, its steps beside it.
import fs from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import type tls from 'node:tls';
import type { Logger } from 'pino';
import type { ChannelClient, ChannelGuard } from '../channels/channel-guard.js';
import { checkPlaintextBind, type ChannelPolicy } from '../channels/channel-options.js';
import { startChannelSweep } from '../channels/channel-sweep.js';
import { DaemonError, isDaemonError, isRetryable, toDaemonError, type ErrorCode } from '../errors.js';
import {
  HTTP_CLOSE_GRACE_MS,
  HTTP_DEADLINE_CHECK_INTERVAL_MS,
  HTTP_HEADERS_MS_MAX,
  HTTP_KEEP_ALIVE_MS,
  HTTP_REFUSALS_PENDING_MAX,
  HTTP_REFUSED_CLOSE_MS,
  HTTP_REPLY_STALL_MS_MAX,
  HTTP_RETRY_AFTER_S,
  INPUT_HELD_BYTES_MAX,
  MULTIPART_HEADER_BYTES_MAX,
  MULTIPART_PARTS_MAX,
  TLS_HANDSHAKE_MS_MAX,
  TLS_HANDSHAKES_PENDING_MAX,
  UPLOAD_PROGRESS_BYTES_MIN,
  type Limits,
} from '../limits.js';
import { ERROR_CODE_HEADER, HTTP_STATUS } from '../protocol/http-status.js';
import { createBodyBudget } from './body-budget.js';
import { discardRest, readBody } from './http-body.js';
import { hangUp, send } from './http-reply.js';
import { logPath, requestHead } from './http-request-head.js';
import type { HttpReply, HttpService } from './http-service.js';
import { release, watchProgress, whileConnected, withDeadline, type UploadJob } from './http-upload-steps.js';
import { multipartUpload, type UploadedForm } from './multipart-form.js';
import { createRefusalLog } from './refusal-log.js';
import { logRequest } from './request-log.js';
import type { RequestContext } from './serve-tcp.js';
import { createUploadQueue, type QueueLimits } from './upload-queue.js';
import type { ListenerMetrics } from './listener-metrics.js';

/** The bounds the server enforces itself (lib/limits.ts Limits has them all). */
type HttpServerLimits = Pick<Limits, 'connectionsMax' | 'drainMsMax' | 'httpBodyBytesMax' | 'httpRequestMsMax'> & {
  /** Time allowed for the request headers (default HTTP_HEADERS_MS_MAX; never more than httpRequestMsMax). */
  httpHeadersMsMax?: number;
  /** A reply with no progress this long is cut (default HTTP_REPLY_STALL_MS_MAX). */
  httpReplyStallMsMax?: number;
  /**
   * Bytes of bodies being read, across connections, past which the request holding the most is
   * refused with BUSY (default: INPUT_HELD_BYTES_MAX, or two whole bodies if that is more).
   */
  httpBodiesHeldBytesMax?: number;
};

interface UploadLimits extends QueueLimits {
  /** Largest upload (the whole multipart body). */
  bodyBytesMax: number;
  /** An upload must bring UPLOAD_PROGRESS_BYTES_MIN (or its end) in every window this long, or it is cut with 408. */
  idleMsMax: number;
  /** Time a route's work may take once the upload is in (then 504; its directory goes when the work ends). */
  processingMsMax: number;
}

interface UploadSettings {
  /** Where the server makes its private directory for uploads (one sub-directory per request). */
  tempDir: string;
  limits: UploadLimits;
}

export interface HttpServerOptions {
  host: string;
  port: number;
  limits: HttpServerLimits;
  log: Logger;
  service: HttpService;
  /** Needed when the service has upload routes. */
  uploads?: UploadSettings;
  /** The daemon's client channels (HTTPS), or null for plain HTTP; shared by all its listeners. */
  channel: ChannelGuard | null;
  /** Whether plain HTTP may bind beyond loopback (--insecure-plaintext). */
  policy: ChannelPolicy;
  /** Request outcomes, refusals and load for the daemon's metrics and readiness (lib/operations). */
  metrics?: ListenerMetrics | undefined;
}

export interface RunningHttpServer {
  readonly address: net.AddressInfo;
  /** The private directory of uploads (empty between requests), or null without uploads. */
  readonly uploadDir: string | null;
  /** Stops accepting, refuses waiting uploads, lets requests in progress finish (bounded by drainMsMax), then closes. */
  close(): Promise<void>;
  /** After the channel guard reloaded: the new certificate for new handshakes, and open channels checked now. */
  channelsReloaded(): void;
}

/** A connection's number and request counter, and when its current request began (for a request that never parses). */
interface Connection {
  readonly conn: number;
  nextReq: number;
  since: bigint;
  /** The request being served, if any: a parser error or deadline meanwhile belongs to it. */
  active: { req: http.IncomingMessage; res: http.ServerResponse } | null;
  /** A request was answered before its body was all in: what the parser says of the rest is not a request. */
  bodyRefused: boolean;
}

export async function startHttpServer(opts: HttpServerOptions): Promise<RunningHttpServer> {
  const { limits, log, service, channel } = opts;
  checkPlaintextBind(opts.host, opts.policy);
  const uploads = opts.uploads
    ? { limits: opts.uploads.limits, queue: createUploadQueue(opts.uploads.limits), dir: await fs.mkdtemp(path.join(opts.uploads.tempDir, 'signerd-uploads-')) }
    : null;
  let draining = false;
  let nextConn = 0;
  // Requests between their head and their log record: the drain deadline answers those still coming in.
  const serving = new Set<{ req: http.IncomingMessage; res: http.ServerResponse }>();
  const connections = new WeakMap<net.Socket, Connection>();
  const connectionOf = (socket: net.Socket): Connection => {
    let connection = connections.get(socket);
    if (!connection) connections.set(socket, (connection = { conn: ++nextConn, nextReq: 0, since: process.hrtime.bigint(), active: null, bodyRefused: false }));
    return connection;
  };

  // node:http answers a request not fully received within requestTimeout, or whose headers took
  // longer than headersTimeout; it checks every connectionsCheckingInterval, so that interval
  // bounds how late a deadline can bite.
  const httpOptions: http.ServerOptions = {
    requestTimeout: limits.httpRequestMsMax,
    headersTimeout: Math.min(limits.httpRequestMsMax, limits.httpHeadersMsMax ?? HTTP_HEADERS_MS_MAX),
    keepAliveTimeout: HTTP_KEEP_ALIVE_MS,
    connectionsCheckingInterval: Math.min(HTTP_DEADLINE_CHECK_INTERVAL_MS, limits.httpRequestMsMax),
  };
  const server = channel
    ? https.createServer({ ...channel.tlsOptions(), ...httpOptions, handshakeTimeout: TLS_HANDSHAKE_MS_MAX })
    : http.createServer(httpOptions);
  // TLS: sockets still in their handshake count too, so a handshake flood cannot hold more than this.
  server.maxConnections = limits.connectionsMax + HTTP_REFUSALS_PENDING_MAX + (channel ? TLS_HANDSHAKES_PENDING_MAX : 0);
  server.on('connection', connectionOf);
  // The cap: a connection past it is answered 503 BUSY on its first request and closed (like the line
  // server's ERR BUSY), logged once a second at most; past HTTP_REFUSALS_PENDING_MAX more, or past
  // the TLS handshakes allowed, node:http resets it. TLS connections count once their handshake is done.
  const refusals = createRefusalLog(log);
  const overCap = new WeakSet<net.Socket>();
  let admitted = 0;
  server.on(channel ? 'secureConnection' : 'connection', (socket: net.Socket) => {
    if (admitted < limits.connectionsMax) {
      admitted++;
      socket.once('close', () => admitted--);
      return;
    }
    // Counted in the metrics by its request's record (outcome BUSY), not also as a refused connection.
    overCap.add(socket);
    refusals.note('BUSY');
    const timer = setTimeout(() => socket.destroy(), HTTP_REFUSED_CLOSE_MS);
    socket.once('close', () => clearTimeout(timer));
  });
  server.on('drop', () => {
    refusals.note('BUSY');
    opts.metrics?.refused('BUSY');
  });
  // Bodies read whole: each connection may hold httpBodyBytesMax, but all of them together only this.
  const bodies = createBodyBudget(limits.httpBodiesHeldBytesMax ?? Math.max(INPUT_HELD_BYTES_MAX, 2 * limits.httpBodyBytesMax));
  // Each TLS connection's channel, decided once its handshake is done; requests on it are then
  // checked against the current registry (checkRequest), and open ones by the sweep.
  const channels = new Map<tls.TLSSocket, { client: ChannelClient } | { refusal: DaemonError }>();
  if (channel) {
    server.on('secureConnection', (socket: tls.TLSSocket) => {
      // Past the cap the answer is BUSY whoever it is: no handshake of the client's rate is spent on it.
      if (overCap.has(socket)) return;
      const admission = channel.admit(socket);
      if ('refusal' in admission) log.debug({ outcome: admission.refusal.code, reason: admission.refusal.message }, 'channel refused');
      channels.set(socket, admission);
      socket.once('close', () => channels.delete(socket));
    });
    server.on('tlsClientError', (err: NodeJS.ErrnoException) => {
      opts.metrics?.refused('tls-handshake');
      log.debug({ err: err.code ?? err.message }, 'tls handshake failed');
    });
  }
  const sweeper = startChannelSweep(
    channel,
    function* () {
      for (const [socket, admission] of channels) if ('client' in admission) yield { client: admission.client, close: () => socket.destroy() };
    },
    log,
  );

  /** The channel's client for this request, or the refusal that ends the connection (or, for a rate, only the request). */
  function channelCheck(req: http.IncomingMessage, res: http.ServerResponse, fields: Record<string, unknown>): void {
    if (!channel) return;
    const admission = channels.get(req.socket as tls.TLSSocket);
    const refusal = !admission
      ? new DaemonError('UNAUTHENTICATED', 'no client channel')
      : 'refusal' in admission
        ? admission.refusal
        : ((fields['client'] = admission.client.name), channel.checkRequest(admission.client));
    if (!refusal) return;
    // A channel refused for who it is is over: psimbols' "open a new channel".
    if (refusal.code !== 'RATE_LIMITED') res.shouldKeepAlive = false;
    throw refusal;
  }
  // Load for the metrics: open sockets and requests between their start and their log record.
  let open = 0;
  let inFlight = 0;
  if (opts.metrics) {
    server.on('connection', (socket: net.Socket) => {
      open++;
      socket.once('close', () => open--);
    });
    opts.metrics.observe({ connections: () => open, inFlight: () => inFlight });
  }
  server.on('request', (req, res) => serve(req, res, false));
  // Answered by us, so that a refused upload's `Expect: 100-continue` is never told to send.
  server.on('checkContinue', (req, res) => serve(req, res, true));
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    // A failed TLS handshake (TLS 1.2, plaintext on the TLS port) is no request: tlsClientError counts it.
    if (channel && err.code?.startsWith('ERR_SSL_')) return void socket.destroy();
    const connection = connectionOf(socket as net.Socket);
    if (connection.active && err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      // The request deadline passed while its body was still coming (a slow upload): the request
      // being served answers 408 and logs it.
      const { req, res } = connection.active;
      return cut(req, res, new DaemonError('REQUEST_TIMEOUT', `the request did not arrive within ${limits.httpRequestMsMax} ms`));
    }
    if (err.code === 'ECONNRESET' || err.code === 'EPIPE' || connection.active || connection.bodyRefused || isDaemonError(err)) {
      // The client went away between requests; or the rest of a request being served or already
      // answered (and logged) broke off, or was cut by us: nothing more to answer.
      socket.destroy();
      log.debug({ conn: connection.conn, err: err.code ?? err.message }, 'http client gone');
      return;
    }
    // Registering this handler replaces node's own replies, so the request deadline's 408 is ours to send.
    const code: ErrorCode = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'REQUEST_TIMEOUT' : 'BAD_REQUEST';
    const status = HTTP_STATUS[code];
    const retry = isRetryable(code) ? `retry-after: ${HTTP_RETRY_AFTER_S}\r\n` : '';
    hangUp(
      socket,
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nconnection: close\r\n${ERROR_CODE_HEADER}: ${code}\r\n${retry}content-length: 0\r\n\r\n`,
    );
    const fields = { conn: connection.conn, req: ++connection.nextReq, status, reason: err.code ?? 'unparsable request' };
    logRequest(log, fields, connection.since, code, { code, thrown: err }, opts.metrics);
  });

  /** One request, one log record once it is over (reply sent, upload directory removed). */
  function serve(req: http.IncomingMessage, res: http.ServerResponse, expectsContinue: boolean): void {
    const connection = connectionOf(req.socket);
    // A new request parsed: any body refused before it has ended.
    connection.bodyRefused = false;
    // Pipelined requests overlap: each knows its own entry, and the connection's is the latest.
    const entry = { req, res };
    connection.active = entry;
    serving.add(entry);
    const started = process.hrtime.bigint();
    const fields: Record<string, unknown> = { conn: connection.conn, req: ++connection.nextReq, method: req.method, path: logPath(req.url) };
    const ctx: RequestContext = { conn: connection.conn, req: fields['req'] as number, fields };
    const job: UploadJob = { admission: null, dir: null, work: null };
    inFlight++;
    void (async () => {
      let reply: HttpReply;
      let outcome = 'ok';
      let failure: { code: ErrorCode; thrown: unknown } | undefined;
      try {
        reply = await answer(req, res, expectsContinue, ctx, job);
      } catch (thrown) {
        const err = toDaemonError(thrown);
        outcome = err.code;
        failure = { code: err.code, thrown };
        reply = errorReply(err);
      }
      try {
        // Only a file reply still needs the directory; other replies leave nothing behind before they
        // go out, except a deadline's 504, which must not wait for the work it gave up on.
        if (!reply.file && outcome !== 'BACKEND_TIMEOUT') await release(job);
        await send(res, reply, limits.httpReplyStallMsMax ?? HTTP_REPLY_STALL_MS_MAX);
      } catch {
        if (outcome === 'ok') outcome = 'client-gone';
      } finally {
        if (!req.complete) {
          connection.bodyRefused = true;
          discardRest(req, () => (connection.bodyRefused = false));
        }
        serving.delete(entry);
        if (connection.active === entry) connection.active = null;
        await release(job);
        if (job.admission) {
          fields['waitedMs'] = job.admission.waitedMs();
          job.admission.leave();
        }
      }
      fields['status'] = res.headersSent ? res.statusCode : null;
      connection.since = process.hrtime.bigint();
      inFlight--;
      logRequest(log, fields, started, outcome, failure, opts.metrics);
    })().catch((err: unknown) => log.error({ err }, 'internal error after the reply'));
  }

  async function answer(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    expectsContinue: boolean,
    ctx: RequestContext,
    job: UploadJob,
  ): Promise<HttpReply> {
    if (draining) throw new DaemonError('SHUTTING_DOWN', 'daemon is shutting down');
    if (overCap.has(req.socket)) {
      res.shouldKeepAlive = false;
      throw new DaemonError('BUSY', `too many connections (max ${limits.connectionsMax})`);
    }
    channelCheck(req, res, ctx.fields);
    const head = requestHead(req);
    const route = service.upload?.(head) ?? null;
    if (route === null) {
      if (expectsContinue) res.writeContinue();
      const body = await readBody(req, limits.httpBodyBytesMax, bodies, () => (res.shouldKeepAlive = false));
      return service.handle({ ...head, body }, ctx);
    }
    if (!uploads) throw new DaemonError('INTERNAL', 'an upload route on a server started without upload settings');
    const { limits: bounds, queue, dir } = uploads;
    job.admission = queue.admit();
    const form = multipartUpload(req.headers, route.fields, {
      bodyBytesMax: bounds.bodyBytesMax,
      headerBytesMax: MULTIPART_HEADER_BYTES_MAX,
      partsMax: MULTIPART_PARTS_MAX,
    });
    const declared = req.headers['content-length'] === undefined ? null : Number(req.headers['content-length']);
    if (declared !== null && declared > bounds.bodyBytesMax) throw new DaemonError('PAYLOAD_TOO_LARGE', `body larger than ${bounds.bodyBytesMax} bytes`);
    // The upload's room on disk is reserved before a byte of it is read (a chunked upload reserves the
    // most it may send); until then the body waits in the socket, costing no disk and little memory.
    await whileConnected(res, job.admission.reserveBytes(declared ?? bounds.bodyBytesMax));
    // Only now is curl's `Expect: 100-continue` answered, so a refused upload is never sent at all.
    if (expectsContinue) res.writeContinue();
    job.dir = await fs.mkdtemp(path.join(dir, 'req-'));
    const stopWatching = watchProgress(req, bounds.idleMsMax, () =>
      cut(req, res, new DaemonError('REQUEST_TIMEOUT', `upload slower than ${UPLOAD_PROGRESS_BYTES_MIN} bytes per ${bounds.idleMsMax} ms`)),
    );
    let uploaded: UploadedForm;
    try {
      uploaded = await form.read(req, job.dir);
    } finally {
      stopWatching();
    }
    await whileConnected(res, job.admission.startJob());
    job.work = route.run(uploaded, { ...ctx, dir: job.dir });
    return withDeadline(job.work, bounds.processingMsMax);
  }

  /**
   * A service's error reply, with the error code in its header whatever the body's shape; every
   * retryable code says when to come back (the service may have said so already).
   */
  function errorReply(err: DaemonError): HttpReply {
    const reply = service.formatError(err);
    const headers: Record<string, string> = { ...reply.headers, [ERROR_CODE_HEADER]: err.code };
    if (isRetryable(err.code) && !Object.keys(headers).some((name) => name.toLowerCase() === 'retry-after')) {
      const seconds = err.retryAfterMs === undefined ? HTTP_RETRY_AFTER_S : Math.max(1, Math.ceil(err.retryAfterMs / 1000));
      headers['retry-after'] = String(seconds);
    }
    return { ...reply, headers };
  }

  /**
   * Answers a request the server gives up on while its body is still arriving, then destroys the
   * request with `err`: that closes the connection and ends the upload's reader, which fails with
   * `err`. (Once its reply is out, node:http no longer ends an unread request when the connection closes.)
   */
  function cut(req: http.IncomingMessage, res: http.ServerResponse, err: DaemonError): void {
    const giveUp = (): void => void req.destroy(err);
    if (res.headersSent || res.destroyed) return giveUp();
    const reply = errorReply(err);
    const body = Buffer.from(reply.body ?? '');
    res.writeHead(reply.status, { ...reply.headers, connection: 'close', 'content-length': String(body.length) });
    res.end(body, giveUp);
    // A client that does not take its reply does not keep the connection either.
    setTimeout(giveUp, HTTP_CLOSE_GRACE_MS);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: opts.host, port: opts.port }, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch(async (err: unknown) => {
    if (uploads) await fs.rm(uploads.dir, { recursive: true, force: true });
    throw err;
  });
  server.on('error', (err) => log.error({ err }, 'http server error'));
  return {
    address: server.address() as net.AddressInfo,
    uploadDir: uploads?.dir ?? null,
    async close() {
      draining = true;
      sweeper.stop();
      uploads?.queue.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const deadline = setTimeout(() => {
        // Uploads still arriving are told why they end, and logged so, before every socket goes.
        const cutShort = new DaemonError('SHUTTING_DOWN', 'the daemon stopped before the request was in');
        for (const { req, res } of serving) if (!req.complete) cut(req, res, cutShort);
        // Each cut request goes once its 503 is out; every other socket after the same grace.
        setTimeout(() => server.closeAllConnections(), HTTP_CLOSE_GRACE_MS).unref();
      }, limits.drainMsMax);
      await closed;
      clearTimeout(deadline);
      if (uploads) await fs.rm(uploads.dir, { recursive: true, force: true });
    },
    channelsReloaded() {
      if (!channel || !(server instanceof https.Server)) return;
      server.setSecureContext(channel.tlsOptions());
      sweeper.sweep();
    },
  };
}
