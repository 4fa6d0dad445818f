// One connection of the line server: bounded framing, one request at a time (ordered replies),
// fair turns, the one-shot close, line and idle deadlines, and back-pressure both ways. The server
// (serve-tcp.ts) owns what is shared between connections; this file owns one socket's life.
import type net from 'node:net';
import type { Logger } from 'pino';
import { DaemonError } from '../errors.js';
import { DRAIN_CUT_CLOSE_MS, FRAMING_ERROR_DISCARD_MS, FRESH_REQUESTS_MAX, ONE_SHOT_QUIET_MS, REQUESTS_PER_TURN_MAX, type Limits } from '../limits.js';
import { createLineReader } from '../protocol/line-reader.js';
import type { ChannelClient } from '../channels/channel-guard.js';
import type { LineService, RequestOutcome, RequestRunner } from './request-runner.js';
import type { TurnBudget } from './turn-budget.js';
import { logRequest, type RequestRecorder } from './request-log.js';

/**
 * one-shot: like the seed daemons, a connection closes as soon as its lines are answered and no
 * more bytes are waiting (or after lingerMs, when set), so `echo x | nc host port` exits at once; an
 * unterminated request that goes quiet is answered as it is. keep-open: the connection stays until
 * the client closes it or it is idle for idleTimeoutMs; every request needs its LF.
 */
export type ConnectionMode = 'one-shot' | 'keep-open';

/** What a connection needs from its server. */
export interface LineConnectionDeps {
  mode: ConnectionMode;
  /** One-shot: an unterminated request that goes quiet is taken as it is (TcpServerOptions.quietEndsLine). */
  quietEndsLine: boolean;
  limits: Limits;
  log: Logger;
  service: LineService;
  turn: TurnBudget;
  runRequest: RequestRunner;
  /** The connection now holds `delta` more (or fewer) bytes of unanswered input. */
  heldChanged(delta: number): void;
  /** The socket closed. */
  closed(control: ConnectionControl): void;
  /** Counts refused lines with the listener's requests (lib/operations). */
  recorder?: RequestRecorder | undefined;
}

/** What the server as a whole can ask of one of its connections. */
export interface ConnectionControl {
  /** The channel's client (TLS), or null on a plaintext listener. */
  readonly client: ChannelClient | null;
  close(graceful: boolean): void;
  /** Input bytes it holds, read and not yet answered. */
  held(): number;
  /** Refuses it (ERR BUSY) and closes it, dropping what it holds. */
  shed(): void;
  /** Its client may no longer use the channel: one error line when possible, and the close. */
  revoke(err: DaemonError): void;
  /** Whether it is ending already (its last line written; the socket waits for the client's close). */
  ending(): boolean;
  /** Since when (Date.now()) it has had no request under way and no byte from its client; null while it has. */
  quietSinceMs(): number | null;
  /** Closes it at once, for a newcomer: it has nothing under way, so nothing is lost but its place. */
  evict(): void;
}

export function openLineConnection(socket: net.Socket, conn: number, client: ChannelClient | null, deps: LineConnectionDeps): ConnectionControl {
  const { limits, mode, service, turn } = deps;
  const reader = createLineReader(limits.lineBytesMax);
  const connLog = deps.log.child({ conn });
  // busy = running || awaitingDrain || yielding: no new request starts while any holds.
  let running = false;
  let awaitingDrain = false;
  let yielding = false;
  let clientEnded = false;
  let closed = false;
  let stopping = false;
  let nextReq = 0;
  // Requests run back to back since this connection last yielded the event loop.
  let burst = 0;
  let corked = false;
  let quietTimer: NodeJS.Timeout | undefined;
  let lineTimer: NodeJS.Timeout | undefined;
  let lineTimerFor = -1;
  let idleClose: NodeJS.Timeout | NodeJS.Immediate | undefined;
  let lastRequest = false;
  // The running request: when it began, and whether the drain deadline cut it (cutRunning).
  let runningSince = 0n;
  let cut = false;
  // A line taken from the reader that waits for a place in a later turn.
  let held: Buffer | null = null;
  const busy = (): boolean => running || awaitingDrain || yielding;

  socket.setNoDelay(true);
  socket.setTimeout(limits.idleTimeoutMs);

  // Bytes of this connection counted in heldBytes.
  let counted = 0;
  // The last byte read or reply written: what a full listener looks at to make room (quietSinceMs).
  let activeMs = Date.now();
  const control: ConnectionControl = {
    client,
    close(graceful) {
      stopping = true;
      if (graceful) {
        if (!busy()) pump();
      } else if (running && !closed) cutRunning();
      else socket.destroy();
    },
    held: () => counted,
    shed() {
      refuse(new DaemonError('BUSY', 'too much unanswered input queued across connections; send fewer lines at once'));
    },
    ending: () => closed,
    revoke(err) {
      // The sweep found the channel's client may no longer use it: say why if nothing is under way, then close.
      if (busy()) socket.destroy();
      else refuse(err);
    },
    quietSinceMs: () => (busy() || closed ? null : activeMs),
    evict() {
      connLog.debug({ outcome: 'evicted' }, 'quiet connection closed for a newcomer (connection cap)');
      closed = true;
      clearTimers();
      socket.destroy();
    },
  };

  /** Brings the server's count of held input up to date with what this connection holds now. */
  function account(): void {
    const now = closed ? 0 : reader.pendingBytes + (held?.length ?? 0);
    deps.heldChanged(now - counted);
    counted = now;
  }

  /** Ends our side once; whatever the client still sends is read and dropped, so closing does not
   * turn into an RST that could destroy our last line before the client reads it. */
  function finish(): void {
    if (closed) return;
    closed = true;
    clearTimers();
    // Lines not answered by now never will be: drop them (a shed flood frees its memory here).
    reader.clear();
    held = null;
    account();
    socket.resume();
    socket.end();
    // A client that never reads or closes must not pin the socket.
    setTimeout(() => socket.destroy(), FRAMING_ERROR_DISCARD_MS).unref();
  }

  /**
   * The drain deadline came with a request still running (a slow store or HSM): its client reads why
   * there is no answer, and the record says the daemon stopped it, not what the handler meets later
   * (a store closed under it would read as an outage). The connection ends as a refused one does.
   */
  function cutRunning(): void {
    cut = true;
    endWith(new DaemonError('SHUTTING_DOWN', 'the daemon stopped before this request was answered (drain deadline)'), nextReq, runningSince);
    // Sooner than a refusal's discard: the process exits within its bound after the deadline.
    setTimeout(() => socket.destroy(), DRAIN_CUT_CLOSE_MS).unref();
  }

  function refuse(err: DaemonError): void {
    // Refused at once, before any handler ran.
    endWith(err, ++nextReq, process.hrtime.bigint());
  }

  /** Request `req`'s record with `err` as its outcome, its ERR line, and the connection's end. */
  function endWith(err: DaemonError, req: number, started: bigint): void {
    const fields: Record<string, unknown> = { req };
    // A channel closed by the sweep (registration ended, max-session) is logged under its client, as its requests are.
    if (client) fields['client'] = client.name;
    logRequest(connLog, fields, started, err.code, { code: err.code, thrown: err }, deps.recorder);
    socket.write(service.formatError(err) + '\n');
    finish();
  }

  socket.on('data', (chunk: Buffer) => {
    if (closed || stopping) return;
    // Nothing more is read until these bytes are consumed: memory per connection stays at one
    // read plus one partial line, and a client that outpaces us waits in its own socket buffer.
    socket.pause();
    activeMs = Date.now();
    reader.push(chunk);
    clearTimeout(quietTimer);
    cancelIdleClose();
    if (!busy()) pump();
    account();
  });
  socket.on('end', () => {
    clientEnded = true;
    cancelIdleClose();
    if (!busy()) pump();
  });
  socket.on('drain', () => {
    if (!awaitingDrain) return;
    awaitingDrain = false;
    if (lastRequest) finish();
    else pump();
  });
  socket.on('timeout', () => {
    // A request still running (a slow HSM) or waiting for its turn is not the client's idleness;
    // a reply the client does not read is.
    if (running || yielding || closed) return;
    if (awaitingDrain) {
      connLog.debug({ outcome: 'slow-reader' }, 'connection closed: replies not read');
      socket.destroy();
      return;
    }
    if (reader.pendingBytes > 0) return refuse(notTerminated(limits.idleTimeoutMs));
    connLog.debug({ outcome: 'idle-timeout' }, 'connection idle');
    finish();
  });
  socket.on('error', (err) => connLog.debug({ err: err.message }, 'socket error'));
  socket.on('close', () => {
    closed = true;
    clearTimers();
    account();
    deps.closed(control);
  });

  /**
   * Runs the lines that are complete, one at a time. A connection runs at most a quantum of
   * requests per event-loop turn, and bulk requests (see start) also need a place in the turn's
   * shared budget; otherwise the connection waits its turn, round robin.
   */
  function pump(): void {
    while (!busy() && !closed) {
      let line = held ?? reader.next();
      held = null;
      if (line === null && clientEnded) line = reader.takeRest();
      if (reader.overflowed) return refuse(new DaemonError('LINE_TOO_LONG', `line longer than ${limits.lineBytesMax} bytes`));
      if (line === null) return caughtUp();
      // Fresh: one of a connection's first requests with nothing queued behind it (a one-shot
      // client, a newcomer): it goes ahead. A flood or a pipeline has bytes waiting: bulk.
      const fresh = nextReq < FRESH_REQUESTS_MAX && reader.pendingBytes === 0;
      if (burst >= REQUESTS_PER_TURN_MAX || (!fresh && !turn.take())) {
        held = line;
        return yieldTurn();
      }
      start(line, fresh);
    }
  }

  /** Runs one request; one answered at once is written before this returns, and pump() goes on to the next line. */
  function start(line: Buffer, fresh: boolean): void {
    running = true;
    runningSince = process.hrtime.bigint();
    burst++;
    clearTimeout(lineTimer);
    lineTimer = undefined;
    const req = ++nextReq;
    const outcome = deps.runRequest({ line, conn, req, log: connLog, client, fresh, abandoned: () => closed, cut: () => cut });
    if (outcome instanceof Promise) void outcome.then(deliver);
    else answer(outcome);
  }

  function deliver(outcome: RequestOutcome): void {
    if (answer(outcome)) pump();
  }

  /** Writes the reply; whether the connection may start its next request now. */
  function answer({ reply, closeAfter }: RequestOutcome): boolean {
    running = false;
    if (closed) return false;
    if (closeAfter) lastRequest = true;
    // Replies finished in the same turn leave in one write (one syscall) for pipelining clients;
    // the cork is lifted on the next turn, so a lone reply is not delayed.
    if (!corked && reader.pendingBytes > 0) {
      corked = true;
      socket.cork();
      setImmediate(() => {
        corked = false;
        socket.uncork();
      });
    }
    activeMs = Date.now();
    // A reader slower than our replies: stop here (reading included) until its socket drains.
    if (!socket.write(reply + '\n')) awaitingDrain = true;
    else if (lastRequest) finish();
    else return true;
    return false;
  }

  function yieldTurn(): void {
    account();
    yielding = true;
    turn.defer(() => {
      yielding = false;
      burst = 0;
      pump();
    });
  }

  /** Every complete line is answered: read again, and decide how this connection goes on. */
  function caughtUp(): void {
    account();
    if (clientEnded) return finish();
    if (stopping) {
      // Draining: every line read has its reply. A client that would write another one (kept open,
      // or connected and not yet sent) reads why there is no answer instead of a bare close; a
      // one-shot connection that had its reply closes as it would have anyway. Not a request, so
      // not a request record.
      if (mode !== 'one-shot' || nextReq === 0) socket.write(service.formatError(new DaemonError('SHUTTING_DOWN', 'daemon is shutting down')) + '\n');
      return finish();
    }
    socket.resume();
    if (reader.pendingBytes > 0) {
      // A line has begun: it must be complete within lineMsMax of its first byte, however slowly it trickles.
      if (lineTimer === undefined || lineTimerFor !== reader.linesTaken) {
        clearTimeout(lineTimer);
        lineTimerFor = reader.linesTaken;
        lineTimer = setTimeout(() => refuse(notTerminated(limits.lineMsMax)), limits.lineMsMax);
      }
      // One-shot clients (the seed's `send(b"tok"); recv()`) may never send the LF: once they go
      // quiet, what they sent is the request, as the original's single recv() took it.
      if (mode === 'one-shot' && deps.quietEndsLine) quietTimer = setTimeout(takeQuietLine, ONE_SHOT_QUIET_MS);
      return;
    }
    clearTimeout(lineTimer);
    lineTimer = undefined;
    if (mode === 'one-shot' && nextReq > 0) armIdleClose();
  }

  function takeQuietLine(): void {
    if (busy() || closed || reader.pendingBytes === 0) return;
    const line = reader.takeRest();
    if (reader.overflowed) return refuse(new DaemonError('LINE_TOO_LONG', `line longer than ${limits.lineBytesMax} bytes`));
    if (line === null) return;
    // A client that does not end its lines is not speaking the line protocol: like the seed's
    // single recv(), this is its one request, and the connection closes after the reply. So a
    // trickler gets one answer, not one per byte.
    lastRequest = true;
    // ...and it waits as bulk, behind requests that ended properly.
    start(line, false);
  }

  /**
   * One-shot: every line is answered and nothing is pending, so the connection closes, without
   * a fixed wait. Bytes already on their way are read first: two event-loop turns let the
   * socket be polled once more (a line arriving then is served, and the check runs again).
   */
  function armIdleClose(): void {
    const check = (): void => {
      idleClose = undefined;
      if (!busy() && !closed && reader.pendingBytes === 0) finish();
    };
    if (limits.lingerMs > 0) idleClose = setTimeout(check, limits.lingerMs);
    else idleClose = setImmediate(() => (idleClose = setImmediate(check)));
  }

  function cancelIdleClose(): void {
    if (idleClose === undefined) return;
    clearTimeout(idleClose as NodeJS.Timeout);
    clearImmediate(idleClose as NodeJS.Immediate);
    idleClose = undefined;
  }

  function clearTimers(): void {
    clearTimeout(quietTimer);
    clearTimeout(lineTimer);
    cancelIdleClose();
  }

  return control;
}

function notTerminated(ms: number): DaemonError {
  return new DaemonError('BAD_REQUEST', `line not terminated within ${ms} ms`);
}
