// The firmware daemon's digsigserver-compatible HTTP front end (default 127.0.0.1:9999). Its own
// node:http server rather than lib/server/serve-http.ts, because uploads are streamed to a
// private temporary directory (one per request, removed on every path) instead of buffered.
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import { realpathSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import { DaemonError, toDaemonError } from '../../lib/errors.js';
import { HTTP_STATUS } from '../../lib/protocol/http-status.js';
import {
  FIRMWARE_BUSY_RETRY_AFTER_S_MAX,
  FIRMWARE_BUSY_RETRY_AFTER_S_MIN,
  FIRMWARE_HTTP_CHECK_INTERVAL_MS,
  FIRMWARE_HTTP_CLOSE_GRACE_MS,
  FIRMWARE_UPLOAD_PROGRESS_BYTES_MIN,
  HTTP_KEEP_ALIVE_MS,
  MULTIPART_HEADER_BYTES_MAX,
  MULTIPART_PARTS_MAX,
  REFUSED_UPLOAD_DISCARD_MS_MAX,
  type FirmwareHttpLimits,
} from '../../lib/limits.js';
import { multipartBoundary, readMultipart, type Form } from './http-multipart.js';
import type { FirmwareHttpSettings } from './http-options.js';
import { createSigningQueue, type Admission, type SigningQueue } from './http-queue.js';
import type { FirmwareHttpCore, Reply, Route } from './http-route.js';
import { ROUTES, VENDOR_ROUTES } from './http-routes.js';

export interface FirmwareHttpDeps {
  settings: FirmwareHttpSettings;
  log: Logger;
  /** The signing core shared with the line protocol, as the routes see it: `firmwareHttpCore(signer)`. */
  core: FirmwareHttpCore;
}

export interface RunningFirmwareHttp {
  readonly address: net.AddressInfo;
  /** The daemon's private temporary directory (empty between requests). */
  readonly tempDir: string;
  close(): Promise<void>;
}

const MULTIPART_LIMITS = { headerBytesMax: MULTIPART_HEADER_BYTES_MAX, partsMax: MULTIPART_PARTS_MAX };

export async function startFirmwareHttp(deps: FirmwareHttpDeps): Promise<RunningFirmwareHttp> {
  const { settings, log } = deps;
  const { limits } = settings;
  const artifactRoot = settings.menderArtifactRoot ? realDir(settings.menderArtifactRoot, '--mender-artifact-root') : null;
  const tempDir = await fs.mkdtemp(path.join(realDir(settings.tempDir || os.tmpdir(), '--http-temp-dir'), 'signerd-firmware-'));
  const queue = createSigningQueue(limits);
  const env: Env = { core: deps.core, limits, log, tempDir, artifactRoot, queue, state: { draining: false, nextReq: 0 } };
  // node:http answers 408 to a request not fully received within requestTimeout, or whose headers
  // took longer than headersTimeout (the idle timeout); it checks every connectionsCheckingInterval,
  // so that interval bounds how late a deadline can bite.
  const server = http.createServer({
    requestTimeout: limits.requestMsMax,
    headersTimeout: Math.min(limits.requestMsMax, limits.idleMsMax),
    keepAliveTimeout: HTTP_KEEP_ALIVE_MS,
    connectionsCheckingInterval: Math.min(FIRMWARE_HTTP_CHECK_INTERVAL_MS, limits.requestMsMax),
  });
  server.on('request', (req, res) => serve(env, req, res, false));
  server.on('checkContinue', (req, res) => serve(env, req, res, true));
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    // Registering this handler replaces node's own replies, so the request deadline's 408 is ours to send.
    const code = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'REQUEST_TIMEOUT' : 'BAD_REQUEST';
    const status = HTTP_STATUS[code];
    // node:http lets sockets stay half-open: end() alone would keep this one (and its place under the
    // connection cap) for as long as the client keeps its end open. Send the status, then let go of it.
    hangUp(socket, `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    log.info({ http: true, status, outcome: code, err: err.message }, 'request');
  });
  server.maxConnections = limits.connectionsMax;
  try {
    await listen(server, settings.host, settings.port);
  } catch (err) {
    await fs.rm(tempDir, { recursive: true, force: true });
    throw err;
  }
  const address = server.address() as net.AddressInfo;
  log.info({ host: settings.host, port: address.port, http: true, tempDir }, 'listening');
  return {
    address,
    tempDir,
    async close() {
      env.state.draining = true;
      queue.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const deadline = setTimeout(() => server.closeAllConnections(), limits.drainMsMax);
      await closed;
      clearTimeout(deadline);
      await fs.rm(tempDir, { recursive: true, force: true });
    },
  };
}

/** What every request needs: the signing core, the bounds, the log, the private directory, the counters. */
interface Env {
  core: FirmwareHttpCore;
  limits: FirmwareHttpLimits;
  log: Logger;
  tempDir: string;
  artifactRoot: string | null;
  queue: SigningQueue;
  state: { draining: boolean; nextReq: number };
}

/** One request, one log line when it is over (reply sent, directory removed). */
function serve(env: Env, req: http.IncomingMessage, res: http.ServerResponse, expectsContinue: boolean): void {
  const started = process.hrtime.bigint();
  const fields: Record<string, unknown> = {};
  void handle(env, req, res, expectsContinue, fields).then(
    (outcome) => {
      const ms = Number((process.hrtime.bigint() - started) / 1000n) / 1000;
      const status = res.headersSent ? res.statusCode : null;
      env.log.info({ req: ++env.state.nextReq, http: true, method: req.method, path: logPath(req.url), status, ...fields, outcome, ms }, 'request');
    },
    (err: unknown) => env.log.error({ err }, 'internal error after the reply'),
  );
}

async function handle(
  env: Env,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  expectsContinue: boolean,
  fields: Record<string, unknown>,
): Promise<string> {
  const job: Job = { admission: null, dir: null, work: null };
  let reply: Reply;
  let outcome = 'ok';
  try {
    reply = await dispatch(env, req, res, expectsContinue, job, fields);
  } catch (thrown) {
    const err = toDaemonError(thrown);
    outcome = err.code;
    if (err.code === 'INTERNAL') env.log.error({ err: thrown }, 'internal error');
    reply = errorReply(err);
  }
  try {
    // Only a file reply still needs the directory; other replies leave nothing behind before they go
    // out, except a deadline's 504, which must not wait for the job it gave up on.
    if (!reply.file && outcome !== 'BACKEND_TIMEOUT') await release(job);
    await send(res, reply);
  } catch {
    outcome = outcome === 'ok' ? 'client-gone' : outcome;
  } finally {
    if (!req.complete) discardRest(req);
    await release(job);
    if (job.admission) {
      fields['waitedMs'] = job.admission.waitedMs();
      job.admission.leave();
    }
  }
  return outcome;
}

async function dispatch(
  env: Env,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  expectsContinue: boolean,
  job: Job,
  fields: Record<string, unknown>,
): Promise<Reply> {
  const { limits, state } = env;
  const route = lookup(req);
  if (route === 'health') return { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'OK' };
  if (state.draining) throw new DaemonError('SHUTTING_DOWN', 'daemon is shutting down');
  job.admission = env.queue.admit();
  const boundary = multipartBoundary(req.headers['content-type']);
  const declared = req.headers['content-length'] === undefined ? null : Number(req.headers['content-length']);
  if (declared !== null && declared > limits.uploadBytesMax) throw new DaemonError('PAYLOAD_TOO_LARGE', `body larger than ${limits.uploadBytesMax} bytes`);
  // The upload's room on disk is reserved before a byte of it is read (a chunked upload reserves the
  // most it may send); until then the body waits in the socket, costing no disk and little memory.
  await whileConnected(res, job.admission.reserveBytes(declared ?? limits.uploadBytesMax));
  // Only now is curl's `Expect: 100-continue` answered, so a refused upload is never sent at all.
  if (expectsContinue) res.writeContinue();
  job.dir = await fs.mkdtemp(path.join(env.tempDir, 'req-'));
  const stopWatching = watchProgress(req, limits.idleMsMax, () =>
    cut(req, res, new DaemonError('REQUEST_TIMEOUT', `upload slower than ${FIRMWARE_UPLOAD_PROGRESS_BYTES_MIN} bytes per ${limits.idleMsMax} ms`)),
  );
  let form: Form;
  try {
    form = await readMultipart(req, boundary, route.fields(limits), job.dir, { ...MULTIPART_LIMITS, bodyBytesMax: limits.uploadBytesMax });
  } finally {
    stopWatching();
  }
  await whileConnected(res, job.admission.startSigning());
  job.work = route.run(form, { core: env.core, limits, menderArtifactRoot: env.artifactRoot, dir: job.dir, fields });
  return withDeadline(job.work, limits.processingMsMax);
}

/** One signing request's resources: its place in the queue, its private directory, its work. */
interface Job {
  admission: Admission | null;
  dir: string | null;
  work: Promise<Reply> | null;
}

/**
 * Waits for a turn in the queue, or fails as an aborted upload as soon as the client hangs up, so a
 * client that gave up does not keep its place (the caller's leave() then withdraws the turn). A
 * hang-up is seen at once unless the socket was paused with its body waiting; then when it is read.
 */
function whileConnected(res: http.ServerResponse, turn: Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => {
    const gone = () => reject(new DaemonError('BAD_REQUEST', 'upload aborted by the client'));
    // Handled even after a hang-up: leave() will refuse the turn, and nobody else waits for it.
    turn.then(
      () => {
        res.off('close', gone);
        resolve();
      },
      (err: Error) => {
        res.off('close', gone);
        reject(err);
      },
    );
    if (res.destroyed) gone();
    else res.once('close', gone);
  });
}

/**
 * Calls `onStall` when an upload brings less than FIRMWARE_UPLOAD_PROGRESS_BYTES_MIN in a window of
 * `windowMs` without ending: a trickling client would otherwise hold its connection and its place
 * for the whole request deadline (30 min).
 */
function watchProgress(req: http.IncomingMessage, windowMs: number, onStall: () => void): () => void {
  const socket = req.socket;
  let mark = socket.bytesRead;
  const timer = setInterval(() => {
    if (req.complete) return;
    if (socket.bytesRead - mark < FIRMWARE_UPLOAD_PROGRESS_BYTES_MIN) {
      clearInterval(timer);
      onStall();
    }
    mark = socket.bytesRead;
  }, windowMs);
  return () => clearInterval(timer);
}

/**
 * Answers a request the daemon gives up on while its body is still arriving, then destroys the request
 * with `err`: that closes the connection and ends the upload's reader, which fails with `err`. (Once
 * its reply is out, node:http no longer ends an unread request when the connection closes.)
 */
function cut(req: http.IncomingMessage, res: http.ServerResponse, err: DaemonError): void {
  const giveUp = (): void => void req.destroy(err);
  if (res.headersSent || res.destroyed) return giveUp();
  const reply = errorReply(err);
  const body = Buffer.from(String(reply.body));
  res.writeHead(reply.status, { ...reply.headers, connection: 'close', 'content-length': String(body.length) });
  res.end(body, giveUp);
  // A client that does not take its reply does not keep the connection either.
  setTimeout(giveUp, FIRMWARE_HTTP_CLOSE_GRACE_MS);
}

/**
 * Closes a connection for good once `last` is flushed (at most FIRMWARE_HTTP_CLOSE_GRACE_MS later if
 * the client does not take it), whatever the client does with its own end.
 */
function hangUp(socket: Duplex, last: string): void {
  if (!socket.writable) return void socket.destroy();
  const timer = setTimeout(() => socket.destroy(), FIRMWARE_HTTP_CLOSE_GRACE_MS);
  socket.once('close', () => clearTimeout(timer));
  socket.end(last, () => socket.destroy());
}

/** Frees a job's directory; a job cut off by its deadline keeps it until its work settles. */
async function release(job: Job): Promise<void> {
  if (job.work) await job.work.catch(() => undefined);
  if (job.dir) await fs.rm(job.dir, { recursive: true, force: true });
  job.dir = null;
}

function lookup(req: http.IncomingMessage): Route | 'health' {
  let pathname: string;
  try {
    pathname = new URL(req.url ?? '/', 'http://localhost').pathname.replace(/\/+$/, '') || '/';
  } catch {
    throw new DaemonError('BAD_REQUEST', 'malformed request target');
  }
  if (pathname === '/health') {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new DaemonError('METHOD_NOT_ALLOWED', 'use GET');
    return 'health';
  }
  const route = Object.hasOwn(ROUTES, pathname) ? ROUTES[pathname] : undefined;
  const vendor = Object.hasOwn(VENDOR_ROUTES, pathname) ? VENDOR_ROUTES[pathname] : undefined;
  if (!route && !vendor) throw new DaemonError('NOT_FOUND', 'no such endpoint');
  if (req.method !== 'POST') throw new DaemonError('METHOD_NOT_ALLOWED', 'use POST');
  if (vendor) throw new DaemonError('NOT_IMPLEMENTED', vendor);
  return route!;
}

function errorReply(err: DaemonError): Reply {
  const headers: Record<string, string> = { 'content-type': 'text/plain; charset=utf-8' };
  // The classes' `curl --retry 4` retries a 503 and honours Retry-After; a fixed value would bring
  // every refused build back at the same moment.
  if (err.code === 'BUSY') headers['retry-after'] = String(crypto.randomInt(FIRMWARE_BUSY_RETRY_AFTER_S_MIN, FIRMWARE_BUSY_RETRY_AFTER_S_MAX + 1));
  return { status: HTTP_STATUS[err.code], headers, body: `${err.message}\n` };
}

/** Sends a reply; a file body is streamed. Unread request bytes are discarded by node:http (keep-alive dump). */
async function send(res: http.ServerResponse, reply: Reply): Promise<void> {
  if (res.headersSent || res.destroyed) return;
  if (reply.file) {
    const { size } = await fs.stat(reply.file);
    res.writeHead(reply.status, { ...reply.headers, 'content-length': String(size) });
    await pipeline((await fs.open(reply.file, 'r')).createReadStream(), res);
    return;
  }
  const body = typeof reply.body === 'string' ? Buffer.from(reply.body) : (reply.body ?? Buffer.alloc(0));
  res.writeHead(reply.status, { ...reply.headers, 'content-length': String(body.length) });
  await new Promise<void>((resolve) => res.end(body, () => resolve()));
}

/** Reads and drops what is left of a refused upload for a short while, then hangs up. */
function discardRest(req: http.IncomingMessage): void {
  const timer = setTimeout(() => req.socket.destroy(), REFUSED_UPLOAD_DISCARD_MS_MAX);
  req.once('end', () => clearTimeout(timer));
  req.once('close', () => clearTimeout(timer));
  req.resume();
}

function withDeadline<T>(work: Promise<T>, msMax: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DaemonError('BACKEND_TIMEOUT', `signing did not finish within ${msMax} ms`)), msMax);
  });
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}

function realDir(dir: string, option: string): string {
  try {
    return realpathSync(dir);
  } catch (err) {
    throw new DaemonError('CONFIG_INVALID', `${option} ${dir}: ${(err as NodeJS.ErrnoException).code ?? 'unusable'}`, { cause: err });
  }
}

function listen(server: http.Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function logPath(url: string | undefined): string {
  const p = (url ?? '').split('?')[0] ?? '';
  return p.length > 120 ? p.slice(0, 120) + '…' : p;
}
