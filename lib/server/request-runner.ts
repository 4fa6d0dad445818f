// One request through the line server: a place in the in-flight gate (newcomers first), the client
// channel's per-request check, the daemon's handler, and the one outcome log line.
import type { Logger } from 'pino';
import { DaemonError, toDaemonError } from '../errors.js';
import type { ChannelClient, ChannelGuard } from '../channels/channel-guard.js';
import type { Gate } from './gate.js';
import { logRequest, type OutcomeSummary, type RequestRecorder } from './request-log.js';

/** Per-request context: handlers add fields for the one outcome log line. */
export interface RequestContext {
  readonly conn: number;
  readonly req: number;
  readonly fields: Record<string, unknown>;
  /** The channel's client name (TLS), for what a handler records about the request (transparency log). */
  readonly client?: string | undefined;
}

/** What a daemon gives the server: a request handler and its wire form for errors. */
export interface LineService {
  /**
   * The reply line. A handler that needs no I/O for a request (hmac under secrets held in memory)
   * may return it at once: the connection then goes on to its next line in the same turn, without
   * the promise turns, which cost a pipelining client more than the work itself.
   */
  handle(line: Buffer, ctx: RequestContext): string | Promise<string>;
  formatError(err: DaemonError): string;
}

/** A request line on its way, and how to tell its connection is gone. */
export interface PendingRequest {
  line: Buffer;
  conn: number;
  req: number;
  log: Logger;
  /** The channel's client (TLS), or null on a plaintext listener. */
  client: ChannelClient | null;
  /** Fresh requests wait ahead of bulk ones in the gate. */
  fresh: boolean;
  abandoned(): boolean;
  /**
   * Whether its connection already answered and logged it: cut at the drain deadline (SHUTTING_DOWN).
   * What the handler ends with later (often a store the daemon closed under it) is not its outcome.
   */
  cut(): boolean;
}

/** The reply line, and whether the channel must close after it (its client may no longer use it). */
export interface RequestOutcome {
  reply: string;
  closeAfter: boolean;
}

/**
 * Runs one request: its outcome at once when the gate has room and the handler answered at once,
 * otherwise a promise of it.
 */
export type RequestRunner = (request: PendingRequest) => RequestOutcome | Promise<RequestOutcome>;

export function createRequestRunner(deps: {
  gate: Gate;
  service: LineService;
  channel: ChannelGuard | null;
  recorder?: RequestRecorder | undefined;
  /** Summary mode: successes are counted here instead of logged one by one. */
  summary: OutcomeSummary | null;
}): RequestRunner {
  const { gate, service, channel, recorder, summary } = deps;

  /** The request with its place in the gate: the release comes with the outcome, however it ends. */
  function runHolding(request: PendingRequest, started: bigint): RequestOutcome | Promise<RequestOutcome> {
    const { line, conn, req, log } = request;
    // The outcome line is this object: req (and client) first, then the handler's fields, then
    // outcome and ms (lib/server/request-log.ts; built in place, not spread, because this runs on every request).
    const fields: Record<string, unknown> = { req };
    if (request.client) fields['client'] = request.client.name;
    const ctx: RequestContext = { conn, req, fields, client: request.client?.name };
    const succeeded = (reply: string): RequestOutcome => {
      gate.release();
      if (request.cut()) return afterCut(request, 'ok');
      logRequest(log, fields, started, 'ok', undefined, recorder, summary);
      return { reply, closeAfter: false };
    };
    const failed = (thrown: unknown): RequestOutcome => {
      gate.release();
      const err = toDaemonError(thrown);
      if (request.cut()) return afterCut(request, err.code);
      logRequest(log, fields, started, err.code, { code: err.code, thrown }, recorder);
      // A channel refused for who it is (not for its rate) is over: psimbols' "open a new channel".
      return { reply: service.formatError(err), closeAfter: err.code === 'UNAUTHENTICATED' || err.code === 'FORBIDDEN' };
    };
    let reply: string | Promise<string>;
    try {
      const refusal = request.client && channel ? channel.checkRequest(request.client) : null;
      if (refusal) throw refusal;
      reply = service.handle(line, ctx);
    } catch (thrown) {
      return failed(thrown);
    }
    return typeof reply === 'string' ? succeeded(reply) : reply.then(succeeded, failed);
  }

  async function runAfterWait(request: PendingRequest, started: bigint): Promise<RequestOutcome> {
    await gate.acquire(request.fresh);
    // Its client left while it waited: doing the work now would only delay everyone else.
    if (request.abandoned()) {
      gate.release();
      request.log.debug({ req: request.req, outcome: 'abandoned' }, 'request');
      return { reply: '', closeAfter: true };
    }
    return runHolding(request, started);
  }

  /** A request its connection cut and logged at the drain deadline: how it ended after all, at debug. */
  function afterCut(request: PendingRequest, ended: string): RequestOutcome {
    request.log.debug({ req: request.req, ended }, 'request cut at the drain deadline ended');
    return { reply: '', closeAfter: true };
  }

  return function runRequest(request) {
    const started = process.hrtime.bigint();
    return gate.tryAcquire() ? runHolding(request, started) : runAfterWait(request, started);
  };
}
