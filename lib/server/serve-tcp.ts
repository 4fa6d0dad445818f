// The line-protocol server every daemon shares: the listener (plain TCP on loopback, or TLS 1.3
// client channels), the connection cap, channel admission and the sweep of open channels, the
// bound on input held across connections, fair turns, the in-flight gate and the drain on
// shutdown. One connection's life is line-connection.ts; one request's is request-runner.ts.
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { DaemonError } from '../errors.js';
import {
  CONNECTION_QUIET_EVICT_MS,
  FRAMING_ERROR_DISCARD_MS,
  INPUT_HELD_BYTES_MAX,
  TLS_HANDSHAKE_MS_MAX,
  TLS_HANDSHAKES_PENDING_MAX,
  TURN_REQUESTS_MAX,
  type Limits,
} from '../limits.js';
import type { ChannelGuard } from '../channels/channel-guard.js';
import { overShare } from '../channels/channel-share.js';
import { checkPlaintextBind, type ChannelPolicy } from '../channels/channel-options.js';
import { startChannelSweep } from '../channels/channel-sweep.js';
import { createGate } from './gate.js';
import { settleInFlight } from './in-flight.js';
import { openLineConnection, type ConnectionControl, type ConnectionMode } from './line-connection.js';
import { createRequestRunner, type LineService } from './request-runner.js';
import { createOutcomeSummary, type RequestLogMode } from './request-log.js';
import { createRefusalLog } from './refusal-log.js';
import { createTurnBudget } from './turn-budget.js';
import { boundHandshakes } from './handshake-bound.js';
import type { ListenerMetrics } from './listener-metrics.js';
import { noteListening } from './own-ports.js';

export interface TcpServerOptions {
  host: string;
  port: number;
  mode: ConnectionMode;
  limits: Limits;
  log: Logger;
  service: LineService;
  /** The daemon's client channels (TLS), or null for plaintext; shared by all its listeners. */
  channel: ChannelGuard | null;
  /** Whether plaintext may bind beyond loopback (--insecure-plaintext). */
  policy: ChannelPolicy;
  /** Request outcomes, refusals and load for the daemon's metrics and readiness (lib/operations). */
  metrics?: ListenerMetrics | undefined;
  /** each (default): one log record per request; summary: successes once a second, everything else each. */
  requestLog?: RequestLogMode | undefined;
  /**
   * One-shot: whether an unterminated request that goes quiet is taken as it is (true, the default:
   * the seeds' single recv()). False where a request carries a whole object (firmware): a stall mid-line
   * would otherwise sign a prefix, so such a line waits for its LF or the client's end of input.
   */
  quietEndsLine?: boolean | undefined;
}

export interface RunningServer {
  readonly address: net.AddressInfo;
  /** Stops accepting, lets in-flight requests finish (bounded by drainMsMax), then closes. */
  close(): Promise<void>;
  /** After the channel guard reloaded: the new certificate for new handshakes, and open channels checked now. */
  channelsReloaded(): void;
}

export async function startTcpServer(opts: TcpServerOptions): Promise<RunningServer> {
  const { limits, log, service, channel } = opts;
  checkPlaintextBind(opts.host, opts.policy, opts.log);
  const gate = createGate(limits.inFlightMax);
  const turn = createTurnBudget(TURN_REQUESTS_MAX);
  const connections = new Set<ConnectionControl>();
  // Input read but not yet answered, across connections (see shedLargest).
  let heldBytes = 0;
  let draining = false;
  let nextConn = 0;
  // A flood of refused connections must not become a flood of log lines: one line per second at most.
  const refusals = createRefusalLog(log);
  const summary = opts.requestLog === 'summary' ? createOutcomeSummary(log, () => (server.address() as net.AddressInfo | null)?.port) : null;
  const deps = {
    mode: opts.mode,
    quietEndsLine: opts.quietEndsLine ?? true,
    limits,
    log,
    service,
    turn,
    runRequest: createRequestRunner({ gate, service, channel, recorder: opts.metrics, summary }),
    recorder: opts.metrics,
    heldChanged(delta: number) {
      heldBytes += delta;
      if (heldBytes > INPUT_HELD_BYTES_MAX) shedLargest();
    },
    closed(control: ConnectionControl) {
      connections.delete(control);
    },
  };

  /** Refuses a connection with one error line; it is gone within FRAMING_ERROR_DISCARD_MS whatever the client does. */
  const refuseConnection = (socket: net.Socket, err: DaemonError, channelRefusal = false): void => {
    // A channel's refusal names who it was (a client's name, a certificate's pin prefix; never a credential).
    refusals.note(err.code, channelRefusal ? err.message : undefined);
    opts.metrics?.refused(err.code);
    socket.on('error', () => {});
    socket.end(service.formatError(err) + '\n');
    setTimeout(() => socket.destroy(), FRAMING_ERROR_DISCARD_MS).unref();
  };

  const accept = (socket: net.Socket, admitted: (conn: number) => void): void => {
    const conn = ++nextConn;
    if (draining) return refuseConnection(socket, new DaemonError('SHUTTING_DOWN', 'daemon is shutting down'));
    if (connections.size >= limits.connectionsMax && !(channel === null && evictQuietest()))
      return refuseConnection(socket, new DaemonError('BUSY', `too many connections (max ${limits.connectionsMax})`));
    admitted(conn);
  };

  /**
   * Plaintext at the cap: the connection quiet longest, for at least CONNECTION_QUIET_EVICT_MS, gives
   * its place to the newcomer (channels share places by client instead, channel-share.ts).
   */
  const evictQuietest = (): boolean => {
    let quietest: ConnectionControl | undefined;
    // Strictly earlier than the best so far: of connections quiet since the same millisecond, the first opened.
    let since = Date.now() - CONNECTION_QUIET_EVICT_MS + 1;
    for (const c of connections) {
      const quiet = c.quietSinceMs();
      if (quiet !== null && quiet < since) {
        quietest = c;
        since = quiet;
      }
    }
    if (!quietest) return false;
    connections.delete(quietest);
    quietest.evict();
    return true;
  };

  const server = channel
    ? tls.createServer({ ...channel.tlsOptions(), allowHalfOpen: true, handshakeTimeout: TLS_HANDSHAKE_MS_MAX }, (socket) =>
        accept(socket, (conn) => {
          const admitted = channel.admit(socket);
          const name = 'client' in admitted ? admitted.client.name : null;
          const share = name === null ? null : overShare(name, [...connections].filter((c) => c.client?.name === name).length, limits.connectionsMax);
          const admission = share ? { refusal: share } : admitted;
          if ('refusal' in admission) {
            // Counted in the once-a-second refusal line: a flood of refused channels is not a flood of log lines.
            log.debug({ conn, outcome: admission.refusal.code, reason: admission.refusal.message }, 'channel refused');
            return refuseConnection(socket, admission.refusal, true);
          }
          connections.add(openLineConnection(socket, conn, admission.client, deps));
        }),
      )
    : net.createServer({ allowHalfOpen: true, pauseOnConnect: false }, (socket) =>
        accept(socket, (conn) => connections.add(openLineConnection(socket, conn, null, deps))),
      );
  // TLS: sockets still in their handshake are not connections yet; node:http-style, the server drops
  // (resets) sockets beyond this, so a handshake flood cannot hold more. Plaintext answers ERR BUSY itself.
  if (channel) server.maxConnections = limits.connectionsMax + TLS_HANDSHAKES_PENDING_MAX;
  // Handshakes in progress have places of their own, and the oldest gives way to a newcomer: idle
  // sockets cannot keep registered clients from their handshakes.
  if (channel) {
    const refusedBusy = (): void => {
      refusals.note('BUSY');
      opts.metrics?.refused('BUSY');
    };
    boundHandshakes(server as tls.Server, TLS_HANDSHAKES_PENDING_MAX, refusedBusy);
    // Past maxConnections node:net resets a socket unheard: logged and counted all the same.
    server.on('drop', refusedBusy);
  }
  if (channel)
    server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
      // Its place is given back now: node:tls leaves a socket whose handshake failed or timed out
      // open (half-open allowed), and each would keep one place under maxConnections for good.
      socket.destroy();
      opts.metrics?.refused('tls-handshake');
      log.debug({ err: err.code ?? err.message }, 'tls handshake failed');
    });
  opts.metrics?.observe({ connections: () => connections.size, inFlight: () => gate.inFlight });

  const sweeper = startChannelSweep(
    channel,
    function* () {
      // A channel already ending (told why, waiting for its client's close) is not told and logged again.
      for (const c of connections) if (c.client && !c.ending()) yield { client: c.client, close: (refusal: DaemonError) => c.revoke(refusal) };
    },
    log,
  );

  /**
   * Memory stays bounded however many connections flood at once: past INPUT_HELD_BYTES_MAX of
   * input read and not yet answered, the connection holding the most is refused (ERR BUSY) and
   * closed. That is always a flood or a deep pipeline, never a newcomer with one line.
   */
  function shedLargest(): void {
    let largest: ConnectionControl | undefined;
    for (const c of connections) if (!largest || c.held() > largest.held()) largest = c;
    if (!largest || largest.held() === 0) return;
    refusals.note('BUSY');
    opts.metrics?.refused('BUSY');
    largest.shed();
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: opts.host, port: opts.port, backlog: 511 }, () => {
      server.off('error', reject);
      noteListening(server);
      resolve();
    });
  });
  server.on('error', (err) => log.error({ err }, 'server error'));
  const address = server.address() as net.AddressInfo;

  return {
    address,
    async close() {
      draining = true;
      sweeper.stop();
      const closedServer = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const c of connections) c.close(true);
      const deadline = setTimeout(() => {
        for (const c of connections) c.close(false);
      }, limits.drainMsMax);
      await closedServer;
      clearTimeout(deadline);
      // A request failing on a store closed under it would be logged as an outage.
      await settleInFlight(() => gate.inFlight);
      summary?.close();
    },
    channelsReloaded() {
      if (!channel || !(server instanceof tls.Server)) return;
      server.setSecureContext(channel.tlsOptions());
      sweeper.sweep();
    },
  };
}
