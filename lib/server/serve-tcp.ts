// The line-protocol server every daemon shares: bounded framing, a connection cap, idle and
// linger timers, one request at a time per socket (ordered replies, natural back-pressure),
// a global in-flight cap, and a drain on shutdown. Daemons supply only `handle` and `formatError`.
import net from 'node:net';
import type { Logger } from 'pino';
import { DaemonError, toDaemonError } from '../errors.js';
import { FRAMING_ERROR_DISCARD_MS, QUEUED_LINES_MAX, type Limits } from '../limits.js';
import { createLineReader } from '../protocol/line-reader.js';
import { createGate, type Gate } from './gate.js';

/** Per-request context: handlers add fields for the one outcome log line. */
export interface RequestContext {
  readonly conn: number;
  readonly req: number;
  readonly fields: Record<string, unknown>;
}

/** What a daemon gives the server: a request handler and its wire form for errors. */
export interface LineService {
  handle(line: Buffer, ctx: RequestContext): Promise<string>;
  formatError(err: DaemonError): string;
}

/**
 * one-shot: like the seed daemons, a connection closes once its lines are answered and no new
 * line arrives within lingerMs (so `echo x | nc host port` exits). keep-open: the connection
 * stays until the client closes it or it is idle for idleTimeoutMs.
 */
export type ConnectionMode = 'one-shot' | 'keep-open';

export interface TcpServerOptions {
  host: string;
  port: number;
  mode: ConnectionMode;
  limits: Limits;
  log: Logger;
  service: LineService;
}

export interface RunningServer {
  readonly address: net.AddressInfo;
  /** Stops accepting, lets in-flight requests finish (bounded by drainMsMax), then closes. */
  close(): Promise<void>;
}

export async function startTcpServer(opts: TcpServerOptions): Promise<RunningServer> {
  const { limits, log, service } = opts;
  const gate = createGate(limits.inFlightMax);
  const closers = new Set<(graceful: boolean) => void>();
  let draining = false;
  let nextConn = 0;
  // A flood of refused connections must not become a flood of log lines: one line per second at most.
  const refusals = createRefusalLog(log);

  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: false }, (socket) => {
    const conn = ++nextConn;
    if (draining || closers.size >= limits.connectionsMax) {
      const err = draining
        ? new DaemonError('SHUTTING_DOWN', 'daemon is shutting down')
        : new DaemonError('BUSY', `too many connections (max ${limits.connectionsMax})`);
      refusals.note(err.code);
      socket.on('error', () => {});
      socket.end(service.formatError(err) + '\n');
      setTimeout(() => socket.destroy(), FRAMING_ERROR_DISCARD_MS).unref();
      return;
    }
    handleConnection(socket, conn);
  });

  function handleConnection(socket: net.Socket, conn: number): void {
    const reader = createLineReader(limits.lineBytesMax);
    const queue: Array<Buffer | 'overflow'> = [];
    let busy = false;
    let clientEnded = false;
    let closed = false;
    let stopping = false;
    let nextReq = 0;
    let lingerTimer: NodeJS.Timeout | undefined;
    let corked = false;
    const connLog = log.child({ conn });

    socket.setNoDelay(true);
    socket.setTimeout(limits.idleTimeoutMs);

    const closeFn = (graceful: boolean): void => {
      stopping = true;
      if (!graceful) socket.destroy();
      else if (!busy && queue.length === 0) finish();
    };
    closers.add(closeFn);

    function finish(): void {
      if (closed) return;
      closed = true;
      clearTimeout(lingerTimer);
      socket.end();
      // A client that never reads or closes must not pin the socket.
      setTimeout(() => socket.destroy(), FRAMING_ERROR_DISCARD_MS).unref();
    }

    function discardAndClose(): void {
      // Read and drop whatever the client is still sending, so closing does not turn into an
      // RST that could destroy our error line before the client reads it.
      closed = true;
      socket.removeAllListeners('data');
      socket.on('data', () => {});
      socket.resume();
      socket.end();
      setTimeout(() => socket.destroy(), FRAMING_ERROR_DISCARD_MS).unref();
    }

    socket.on('data', (chunk: Buffer) => {
      clearTimeout(lingerTimer);
      if (closed || stopping) return;
      for (const line of reader.push(chunk)) queue.push(line);
      if (reader.overflowed) {
        queue.push('overflow');
        socket.pause();
      } else if (queue.length >= QUEUED_LINES_MAX) {
        socket.pause();
      }
      void pump();
    });
    socket.on('end', () => {
      clientEnded = true;
      const rest = reader.takeRest();
      if (rest !== null && rest.length > 0) queue.push(rest);
      void pump();
    });
    socket.on('timeout', () => {
      if (busy) return;
      if (reader.pendingBytes > 0 && !closed) {
        socket.write(service.formatError(new DaemonError('BAD_REQUEST', `line not terminated within ${limits.idleTimeoutMs} ms`)) + '\n');
      }
      connLog.debug({ outcome: 'idle-timeout' }, 'connection idle');
      finish();
    });
    socket.on('error', (err) => connLog.debug({ err: err.message }, 'socket error'));
    socket.on('close', () => {
      closed = true;
      clearTimeout(lingerTimer);
      closers.delete(closeFn);
    });

    async function pump(): Promise<void> {
      if (busy || closed) return;
      const item = queue.shift();
      if (item === undefined) {
        if (clientEnded || stopping) finish();
        else if (opts.mode === 'one-shot' && nextReq > 0 && reader.pendingBytes === 0) {
          lingerTimer = setTimeout(finish, limits.lingerMs);
        }
        if (socket.isPaused() && !reader.overflowed && !stopping) socket.resume();
        return;
      }
      if (item === 'overflow') {
        const err = new DaemonError('LINE_TOO_LONG', `line longer than ${limits.lineBytesMax} bytes`);
        connLog.info({ req: ++nextReq, outcome: err.code }, 'request');
        socket.write(service.formatError(err) + '\n');
        discardAndClose();
        return;
      }
      busy = true;
      const reply = await runRequest(item, conn, ++nextReq, connLog);
      busy = false;
      if (closed) return;
      // Replies finished in the same tick leave in one write (one syscall) for pipelining clients;
      // the cork is lifted on the next turn of the event loop, so a lone reply is not delayed.
      // With no line waiting no second reply can join this one: it is written at once.
      if (!corked && queue.length > 0) {
        corked = true;
        socket.cork();
        setImmediate(() => {
          corked = false;
          socket.uncork();
        });
      }
      const flushed = socket.write(reply + '\n');
      if (!flushed) await new Promise<void>((resolve) => socket.once('drain', resolve).once('close', resolve));
      void pump();
    }
  }

  async function runRequest(line: Buffer, conn: number, req: number, connLog: Logger): Promise<string> {
    // The outcome line is this object: req first, then the handler's fields, then outcome and ms
    // (built in place, not spread, because this runs on every request).
    const fields: Record<string, unknown> = { req };
    const ctx: RequestContext = { conn, req, fields };
    const started = process.hrtime.bigint();
    if (!gate.tryAcquire()) await gate.acquire();
    try {
      const reply = await service.handle(line, ctx);
      fields['outcome'] = 'ok';
      fields['ms'] = msSince(started);
      connLog.info(fields, 'request');
      return reply;
    } catch (thrown) {
      const err = toDaemonError(thrown);
      const level = err.code === 'INTERNAL' ? 'error' : err.code.endsWith('UNAVAILABLE') || err.code.endsWith('TIMEOUT') ? 'warn' : 'info';
      fields['outcome'] = err.code;
      fields['ms'] = msSince(started);
      if (level !== 'info') fields['err'] = thrown;
      connLog[level](fields, 'request');
      return service.formatError(err);
    } finally {
      gate.release();
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: opts.host, port: opts.port, backlog: 511 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => log.error({ err }, 'server error'));
  const address = server.address() as net.AddressInfo;

  return {
    address,
    async close() {
      draining = true;
      const closedServer = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const close of closers) close(true);
      const deadline = setTimeout(() => {
        for (const close of closers) close(false);
      }, limits.drainMsMax);
      await closedServer;
      clearTimeout(deadline);
    },
  };
}

/** Logs the first refusal at once, then at most one summary line (with a count) per interval. */
function createRefusalLog(log: Logger, intervalMs = 1_000): { note(outcome: string): void } {
  let pending = 0;
  let lastOutcome = '';
  let timer: NodeJS.Timeout | undefined;
  const flush = (): void => {
    timer = undefined;
    if (pending > 0) log.warn({ outcome: lastOutcome, refused: pending }, 'connections refused');
    pending = 0;
  };
  return {
    note(outcome) {
      lastOutcome = outcome;
      if (timer === undefined) {
        log.warn({ outcome, refused: 1 }, 'connection refused');
        timer = setTimeout(flush, intervalMs);
        timer.unref();
        return;
      }
      pending++;
    },
  };
}

function msSince(started: bigint): number {
  return Number((process.hrtime.bigint() - started) / 1000n) / 1000;
}

export type { Gate };
