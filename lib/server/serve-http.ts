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
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { ChannelGuard } from '../channels/channel-guard.js';
import { checkPlaintextBind, type ChannelPolicy } from '../channels/channel-options.js';
import { DaemonError, isDaemonError, toDaemonError, type ErrorCode } from '../errors.js';
import {
  HTTP_CLOSE_GRACE_MS,
  HTTP_DEADLINE_CHECK_INTERVAL_MS,
  HTTP_HEADERS_MS_MAX,
  HTTP_KEEP_ALIVE_MS,
  HTTP_PIPELINE_DEPTH_MAX,
  HTTP_REFUSALS_PENDING_MAX,
  HTTP_REPLY_STALL_MS_MAX,
  INPUT_HELD_BYTES_MAX,
  TLS_HANDSHAKE_MS_MAX,
  TLS_HANDSHAKES_PENDING_MAX,
  type Limits,
} from '../limits.js';
import { HTTP_STATUS } from '../protocol/http-status.js';
import { createBodyBudget } from './body-budget.js';
import { discardRest, readBody } from './http-body.js';
import { cutRequest, errorReply, hangUpWith, send } from './http-reply.js';
import { logPath, requestHead } from './http-request-head.js';
import type { HttpReply, HttpService } from './http-service.js';
import { receiveUpload, release, type UploadJob, type UploadLimits } from './http-upload-steps.js';
import { createRefusalLog } from './refusal-log.js';
import { boundHandshakes } from './handshake-bound.js';
import { capConnections } from './http-connection-cap.js';
import { settleInFlight } from './in-flight.js';
import { watchHttpChannels } from './http-channels.js';
import { logRequest } from './request-log.js';
import type { RequestContext } from './request-runner.js';
import { makeUploadDirectory } from './upload-directory.js';
import { createUploadQueue } from './upload-queue.js';
import type { ListenerMetrics } from './listener-metrics.js';
import { noteListening } from './own-ports.js';

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

/** A request between its head and its one log record. */
interface InProgress {
  readonly req: http.IncomingMessage;
  readonly res: http.ServerResponse;
  /** Its outcome once its reply went out (or could not), while its work and directory are let go. */
  decided: { outcome: string; failure: RequestFailure | undefined } | null;
  /** Logs its record and counts it, unless it has one already (the drain deadline may log it first). */
  record(outcome: string, failure: RequestFailure | undefined, reason?: string): void;
}

type RequestFailure = { code: ErrorCode; thrown: unknown };

/** A connection's number and request counter, and when its current request began (for a request that never parses). */
interface Connection {
  readonly conn: number;
  readonly socket: net.Socket;
  nextReq: number;
  since: bigint;
  /** The request being served, if any: a parser error or deadline meanwhile belongs to it. */
  active: { req: http.IncomingMessage; res: http.ServerResponse } | null;
  /** A request was answered before its body was all in: what the parser says of the rest is not a request. */
  bodyRefused: boolean;
  /**
   * Requests parsed and waiting for the one being served (pipelined): node:http parses every request
   * in a read at once, so without this a client that pipelines without reading would start thousands.
   */
  queued: Array<{ req: http.IncomingMessage; res: http.ServerResponse; expectsContinue: boolean; reqNo: number }>;
  /** A request of this connection is being served, from its start to its log record. */
  busy: boolean;
  /** The connection was closed for pipelining too deep: what node:http still parses is dropped. */
  cutOff: boolean;
  /**
   * Bytes after the requests already parsed did not parse: once those are answered, in order, the
   * connection gets this 400 and closes (node:http parses nothing more on it).
   */
  brokenAfter: NodeJS.ErrnoException | null;
}

export async function startHttpServer(opts: HttpServerOptions): Promise<RunningHttpServer> {
  const { limits, log, service, channel } = opts;
  checkPlaintextBind(opts.host, opts.policy, opts.log);
  const uploads = opts.uploads
    ? {
        limits: opts.uploads.limits,
        queue: createUploadQueue(opts.uploads.limits),
        dir: await makeUploadDirectory(opts.uploads.tempDir, log),
        requestMsMax: limits.httpRequestMsMax,
      }
    : null;
  let draining = false;
  /** The drain deadline has closed every connection: requests still waiting their turn were stopped by us. */
  let deadlinePassed = false;
  let nextConn = 0;
  // Requests between their head and their log record: the drain deadline answers and logs those
  // still in progress, since the work they wait for may outlast the daemon.
  const serving = new Set<InProgress>();
  const connections = new WeakMap<net.Socket, Connection>();
  const connectionOf = (socket: net.Socket): Connection => {
    let connection = connections.get(socket);
    if (!connection)
      connections.set(
        socket,
        (connection = {
          conn: ++nextConn,
          socket,
          nextReq: 0,
          since: process.hrtime.bigint(),
          active: null,
          bodyRefused: false,
          queued: [],
          busy: false,
          cutOff: false,
          brokenAfter: null,
        }),
      );
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
    // node:http would answer these itself (400, 417) with no error code and no record: ours does (answer()).
    requireHostHeader: false,
  };
  const server = channel
    ? https.createServer({ ...channel.tlsOptions(), ...httpOptions, handshakeTimeout: TLS_HANDSHAKE_MS_MAX })
    : http.createServer(httpOptions);
  // A client that half-closes once its request is sent (`printf … | nc -N`, a shell's usual way) is
  // still answered: node:http's default aborts every request on the connection at the client's FIN.
  // The connection then ends once the last reply is out.
  // (A property of node:http's Server since Node 0.x that @types/node does not declare.)
  (server as unknown as { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  // TLS: sockets still in their handshake count too, so a handshake flood cannot hold more than this.
  server.maxConnections = limits.connectionsMax + HTTP_REFUSALS_PENDING_MAX + (channel ? TLS_HANDSHAKES_PENDING_MAX : 0);
  server.on('connection', connectionOf);
  // The cap first: the channels' admission asks it whether a connection came past it.
  const refusals = createRefusalLog(log);
  const cap = capConnections(server, { connectionsMax: limits.connectionsMax, tls: channel !== null, refusals, metrics: opts.metrics });
  // Handshakes in progress have places of their own, and the oldest gives way to a newcomer: idle
  // sockets cannot keep registered clients from their handshakes.
  if (channel)
    boundHandshakes(server as https.Server, TLS_HANDSHAKES_PENDING_MAX, () => {
      refusals.note('BUSY');
      opts.metrics?.refused('BUSY');
    });
  const channels = watchHttpChannels(server, channel, cap, log, opts.metrics, limits.connectionsMax);
  // Bodies read whole: each connection may hold httpBodyBytesMax, but all of them together only this.
  const bodies = createBodyBudget(limits.httpBodiesHeldBytesMax ?? Math.max(INPUT_HELD_BYTES_MAX, 2 * limits.httpBodyBytesMax));
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
  server.on('request', (req, res) => enqueue(req, res, false));
  // Answered by us, so that a refused upload's `Expect: 100-continue` is never told to send.
  server.on('checkContinue', (req, res) => enqueue(req, res, true));
  server.on('checkExpectation', (req, res) => enqueue(req, res, false));
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    // A failed TLS handshake (TLS 1.2, plaintext on the TLS port) is no request: tlsClientError counts it.
    if (channel && err.code?.startsWith('ERR_SSL_')) return void socket.destroy();
    const connection = connectionOf(socket as net.Socket);
    const active = connection.active;
    // The error belongs to the request whose bytes were being read: the one being served only while
    // its body is still coming (a slow upload past the deadline, a bad chunk size); it answers 408
    // or 400 and logs it. Once its body is all in, the bytes are a later (pipelined) request's.
    if (active && !active.req.complete && (err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || err.code?.startsWith('HPE_'))) {
      const cause =
        err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? new DaemonError('REQUEST_TIMEOUT', `the request did not arrive within ${limits.httpRequestMsMax} ms`)
          : new DaemonError('BAD_REQUEST', `the request body does not parse (${err.code})`);
      return cut(active.req, active.res, cause);
    }
    const clientLeft = err.code === 'ECONNRESET' || err.code === 'EPIPE';
    // Already waiting for its turn to be refused: node:http may parse the same bytes again.
    if (connection.brokenAfter && !clientLeft) return;
    if (!clientLeft && !connection.bodyRefused && !isDaemonError(err) && err.code?.startsWith('HPE_') && (active || connection.queued.length > 0)) {
      // Bytes after complete requests (a pipelined request that is not HTTP, an HTTP/1.0 body with no
      // Content-Length): the requests before them are still answered, in order, and then this 400.
      connection.brokenAfter = err;
      (socket as net.Socket).pause();
      return;
    }
    if (clientLeft || active || connection.queued.length > 0 || connection.bodyRefused || isDaemonError(err)) {
      // The client went away between requests; or the rest of a request being served or already
      // answered (and logged) broke off, or was cut by us: the connection ends, every request on it
      // has its record (the waiting ones as client-gone).
      socket.destroy();
      log.debug({ conn: connection.conn, err: err.code ?? err.message }, 'http client gone');
      return;
    }
    if (err.code === 'HPE_INVALID_EOF_STATE') {
      // The client closed with a request half sent: it left; its request was never made.
      socket.destroy();
      const fields = {
        conn: connection.conn,
        req: ++connection.nextReq,
        status: null,
        reason: 'the client closed the connection part-way through its request',
      };
      logRequest(log, fields, connection.since, 'client-gone', undefined, opts.metrics);
      return;
    }
    refuseUnparsed(connection, socket, err);
  });

  /** Registering clientError replaces node's own replies, so the 400, 408 or 431 of a request that never parsed is ours to send and log. */
  function refuseUnparsed(connection: Connection, socket: Duplex, err: NodeJS.ErrnoException): void {
    const code: ErrorCode = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'REQUEST_TIMEOUT' : 'BAD_REQUEST';
    // Headers past node:http's bound (16 KiB) have their own status, under the BAD_REQUEST code.
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : HTTP_STATUS[code];
    hangUpWith(socket, status, code);
    const fields = { conn: connection.conn, req: ++connection.nextReq, status, reason: err.code ?? 'unparsable request' };
    logRequest(log, fields, connection.since, code, { code, thrown: err }, opts.metrics);
  }

  // CONNECT is no request any daemon serves; node:http would close the socket without a word.
  server.on('connect', (req: http.IncomingMessage, socket: Duplex) => {
    const connection = connectionOf(socket as net.Socket);
    const code: ErrorCode = 'METHOD_NOT_ALLOWED';
    const status = HTTP_STATUS[code];
    hangUpWith(socket, status, code);
    const err = new DaemonError(code, 'CONNECT is not served');
    const fields = { conn: connection.conn, req: ++connection.nextReq, method: req.method, path: logPath(req.url), status, reason: err.message };
    logRequest(log, fields, process.hrtime.bigint(), code, { code, thrown: err }, opts.metrics);
  });

  /**
   * A connection's requests are served one at a time, in order (as their replies must go out). A
   * request beyond HTTP_PIPELINE_DEPTH_MAX waiting closes the connection; one whose client left
   * before its turn is logged as gone, never run.
   */
  function enqueue(req: http.IncomingMessage, res: http.ServerResponse, expectsContinue: boolean): void {
    const connection = connectionOf(req.socket);
    if (connection.cutOff) return void res.destroy();
    // Numbered as they arrive, so the records say the order the client sent them in.
    const reqNo = ++connection.nextReq;
    if (connection.queued.length + 1 > HTTP_PIPELINE_DEPTH_MAX) {
      connection.cutOff = true;
      const err = new DaemonError('BUSY', `more than ${HTTP_PIPELINE_DEPTH_MAX} requests pipelined on one connection; connection closed`);
      const fields = { conn: connection.conn, req: reqNo, method: req.method, path: logPath(req.url), status: null, reason: err.message };
      logRequest(log, fields, process.hrtime.bigint(), err.code, { code: err.code, thrown: err }, opts.metrics);
      req.socket.destroy();
      return;
    }
    connection.queued.push({ req, res, expectsContinue, reqNo });
    if (!connection.busy) serveNext(connection);
  }

  function serveNext(connection: Connection): void {
    connection.busy = false;
    for (let next = connection.queued.shift(); next; next = connection.queued.shift()) {
      if (!next.req.socket.destroyed) {
        connection.busy = true;
        return serve(next.req, next.res, next.expectsContinue, next.reqNo, () => serveNext(connection));
      }
      const fields = { conn: connection.conn, req: next.reqNo, method: next.req.method, path: logPath(next.req.url), status: null };
      // Closed by the drain deadline rather than by the client: it never had its turn, and says why.
      if (deadlinePassed) {
        const err = new DaemonError('SHUTTING_DOWN', 'the daemon stopped before this pipelined request had its turn');
        logRequest(log, { ...fields, reason: err.message }, process.hrtime.bigint(), err.code, { code: err.code, thrown: err }, opts.metrics);
      } else logRequest(log, fields, process.hrtime.bigint(), 'client-gone', undefined, opts.metrics);
    }
    const broken = connection.brokenAfter;
    if (broken && !connection.socket.destroyed) {
      connection.brokenAfter = null;
      connection.cutOff = true;
      connection.since = process.hrtime.bigint();
      refuseUnparsed(connection, connection.socket, broken);
    }
  }

  /** One request, one log record once it is over (reply sent, upload directory removed); then `done`. */
  function serve(req: http.IncomingMessage, res: http.ServerResponse, expectsContinue: boolean, reqNo: number, done: () => void): void {
    const connection = connectionOf(req.socket);
    // A new request parsed: any body refused before it has ended.
    connection.bodyRefused = false;
    const started = process.hrtime.bigint();
    const fields: Record<string, unknown> = { conn: connection.conn, req: reqNo, method: req.method, path: logPath(req.url) };
    const ctx: RequestContext = { conn: connection.conn, req: fields['req'] as number, fields };
    const job: UploadJob = { route: null, admission: null, dir: null, work: null };
    let logged = false;
    const entry: InProgress = {
      req,
      res,
      decided: null,
      record(outcome, failure, reason) {
        if (logged) return;
        logged = true;
        if (reason !== undefined) fields['reason'] = reason;
        serving.delete(entry);
        if (job.admission) fields['waitedMs'] = job.admission.waitedMs();
        fields['status'] = res.headersSent ? res.statusCode : null;
        logRequest(log, fields, started, outcome, failure, opts.metrics);
        job.route?.answered?.(outcome);
      },
    };
    connection.active = entry;
    serving.add(entry);
    inFlight++;
    void (async () => {
      let reply: HttpReply;
      let outcome = 'ok';
      let failure: RequestFailure | undefined;
      try {
        reply = await answer(req, res, expectsContinue, ctx, job);
      } catch (thrown) {
        const err = toDaemonError(thrown);
        outcome = err.code;
        failure = { code: err.code, thrown };
        reply = errorReply(service, err);
      }
      try {
        // Only a file reply still needs the directory; other replies leave nothing behind before they
        // go out, except a deadline's 504, which must not wait for the work it gave up on.
        if (!reply.file && outcome !== 'BACKEND_TIMEOUT') await release(job);
        await send(res, reply, limits.httpReplyStallMsMax ?? HTTP_REPLY_STALL_MS_MAX);
      } catch {
        // The reply could not go out: the client left, or the drain deadline closed its connection.
        if (outcome === 'ok' && deadlinePassed) {
          const err = new DaemonError('SHUTTING_DOWN', 'the daemon stopped before the reply went out');
          outcome = err.code;
          failure = { code: err.code, thrown: err };
          fields['reason'] = err.message;
        } else if (outcome === 'ok') outcome = 'client-gone';
      } finally {
        if (!req.complete) {
          connection.bodyRefused = true;
          discardRest(req, () => (connection.bodyRefused = false));
        }
        entry.decided = { outcome, failure };
        if (connection.active === entry) connection.active = null;
        const cutAtDeadline = logged;
        // A deadline's 504 is over for its client once sent: its record, and its duration, do not
        // wait for the work it gave up on (its directory and its job slot do).
        if (outcome === 'BACKEND_TIMEOUT') entry.record(outcome, failure);
        await release(job);
        // Logged at the drain deadline already: how its work ended after all is not its outcome.
        if (cutAtDeadline) log.debug({ conn: connection.conn, req: reqNo, ended: outcome }, 'request logged at the drain deadline ended');
        else entry.record(outcome, failure);
        job.admission?.leave();
      }
      connection.since = process.hrtime.bigint();
      inFlight--;
    })()
      .catch((err: unknown) => log.error({ err }, 'internal error after the reply'))
      .finally(done);
  }

  async function answer(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    expectsContinue: boolean,
    ctx: RequestContext,
    job: UploadJob,
  ): Promise<HttpReply> {
    if (draining) throw new DaemonError('SHUTTING_DOWN', 'daemon is shutting down');
    if (cap.isOver(req.socket)) {
      res.shouldKeepAlive = false;
      throw new DaemonError('BUSY', `too many connections (max ${limits.connectionsMax})`);
    }
    channels.check(req, res, ctx.fields);
    if (req.httpVersionMinor >= 1 && req.headers.host === undefined) throw new DaemonError('BAD_REQUEST', 'an HTTP/1.1 request needs a Host header');
    // HTTP/1.0 has no expectations: a 1.0 client's Expect is ignored (RFC 9110 §10.1.1).
    const expect = req.httpVersionMinor >= 1 ? req.headers.expect?.toLowerCase() : undefined;
    if (expect !== undefined && !(expectsContinue && expect === '100-continue')) {
      res.shouldKeepAlive = false;
      throw new DaemonError('BAD_REQUEST', 'the only expectation served is Expect: 100-continue');
    }
    const head = requestHead(req);
    const route = service.upload?.(head) ?? null;
    if (route === null) {
      if (expectsContinue) {
        // A body declared too large is refused before the client is told to send it.
        if (Number(req.headers['content-length'] ?? 0) > limits.httpBodyBytesMax) {
          res.shouldKeepAlive = false;
          throw new DaemonError('PAYLOAD_TOO_LARGE', `body larger than ${limits.httpBodyBytesMax} bytes`);
        }
        res.writeContinue();
      }
      const body = await readBody(req, limits.httpBodyBytesMax, bodies, () => (res.shouldKeepAlive = false));
      return service.handle({ ...head, body }, ctx);
    }
    if (!uploads) throw new DaemonError('INTERNAL', 'an upload route on a server started without upload settings');
    return receiveUpload(req, res, expectsContinue, { route, uploads, job, ctx, cut: (err) => cut(req, res, err) });
  }

  const cut = (req: http.IncomingMessage, res: http.ServerResponse, err: DaemonError): void => cutRequest(service, req, res, err);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: opts.host, port: opts.port }, () => {
      server.off('error', reject);
      noteListening(server);
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
      channels.stop();
      uploads?.queue.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const deadline = setTimeout(() => {
        // Requests still arriving or being worked on are told why they end, and logged so now: the
        // work they wait for (signing a large upload) may go on past the daemon's exit, and its end
        // would come too late for their record.
        const cutShort = new DaemonError('SHUTTING_DOWN', 'the daemon stopped before the request was in');
        const stopped = new DaemonError('SHUTTING_DOWN', 'the daemon stopped before this request was answered (drain deadline)');
        for (const entry of serving) {
          if (entry.res.headersSent || entry.decided) continue;
          const err = entry.req.complete ? stopped : cutShort;
          cut(entry.req, entry.res, err);
          entry.record(err.code, { code: err.code, thrown: err }, err.message);
        }
        // Each cut request goes once its 503 is out; every other socket after the same grace.
        setTimeout(() => {
          deadlinePassed = true;
          // Replies still going out are cut with their connections; replies out whose directory is
          // still being let go have their outcome. Each is logged now, before the daemon exits.
          const cutReply = new DaemonError('SHUTTING_DOWN', 'the daemon stopped before the reply went out');
          for (const entry of serving) {
            if (entry.decided) entry.record(entry.decided.outcome, entry.decided.failure);
            else entry.record(cutReply.code, { code: cutReply.code, thrown: cutReply }, cutReply.message);
          }
          server.closeAllConnections();
        }, HTTP_CLOSE_GRACE_MS).unref();
      }, limits.drainMsMax);
      await closed;
      clearTimeout(deadline);
      await settleInFlight(() => inFlight);
      if (uploads) await fs.rm(uploads.dir, { recursive: true, force: true });
    },
    channelsReloaded() {
      if (!channel || !(server instanceof https.Server)) return;
      server.setSecureContext(channel.tlsOptions());
      channels.sweep();
    },
  };
}
