// Client channels on an HTTPS listener: each TLS connection is admitted once its handshake is done,
// each request on it is checked against the registry in use, and open ones are swept when their
// client's registration ends. (The line server's equivalent is in serve-tcp.ts.)
import type http from 'node:http';
import type tls from 'node:tls';
import type { Logger } from 'pino';
import type { ChannelClient, ChannelGuard } from '../channels/channel-guard.js';
import { overShare } from '../channels/channel-share.js';
import { startChannelSweep } from '../channels/channel-sweep.js';
import { DaemonError } from '../errors.js';
import type { ConnectionCap } from './http-connection-cap.js';
import type { ListenerMetrics } from './listener-metrics.js';

export interface HttpChannels {
  /** Names the request's client in `fields`, or throws the refusal (which ends the connection, except a rate limit). */
  check(req: http.IncomingMessage, res: http.ServerResponse, fields: Record<string, unknown>): void;
  /** The registry changed: open channels are checked now. */
  sweep(): void;
  stop(): void;
}

/** Without a channel guard (plain HTTP on loopback) every request passes. */
export function watchHttpChannels(
  server: http.Server,
  channel: ChannelGuard | null,
  cap: ConnectionCap,
  log: Logger,
  metrics: ListenerMetrics | undefined,
  /** The listener's --connections-max: one client's channels hold at most half of it. */
  connectionsMax: number,
): HttpChannels {
  const channels = new Map<tls.TLSSocket, { client: ChannelClient } | { refusal: DaemonError }>();
  if (channel) {
    server.on('secureConnection', (socket: tls.TLSSocket) => {
      // Past the cap the answer is BUSY whoever it is: no handshake of the client's rate is spent on it.
      if (cap.isOver(socket)) return;
      const admitted = channel.admit(socket);
      const name = 'client' in admitted ? admitted.client.name : null;
      const open = name === null ? 0 : [...channels.values()].filter((a) => 'client' in a && a.client.name === name).length;
      const share = name === null ? null : overShare(name, open, connectionsMax);
      const admission = share ? { refusal: share } : admitted;
      if ('refusal' in admission) log.debug({ outcome: admission.refusal.code, reason: admission.refusal.message }, 'channel refused');
      channels.set(socket, admission);
      socket.once('close', () => channels.delete(socket));
    });
    server.on('tlsClientError', (err: NodeJS.ErrnoException) => {
      metrics?.refused('tls-handshake');
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
  return {
    check(req, res, fields) {
      if (!channel) return;
      const admission = channels.get(req.socket as tls.TLSSocket);
      const refusedAtOpen = !admission || 'refusal' in admission;
      const refusal = !admission
        ? new DaemonError('UNAUTHENTICATED', 'no client channel')
        : 'refusal' in admission
          ? admission.refusal
          : ((fields['client'] = admission.client.name), channel.checkRequest(admission.client));
      if (!refusal) return;
      // The request's record says who was refused and why (a client's name or a certificate's pin
      // prefix: never a credential).
      fields['reason'] = refusal.message;
      // A channel refused at its opening is over, whatever the reason (psimbols' "open a new
      // channel"): a channel refused for its rate would otherwise answer every later request on the
      // connection with that same refusal, however long the client waited. A request over the rate
      // on an admitted channel keeps it: the client retries after Retry-After on the same one.
      if (refusedAtOpen || refusal.code !== 'RATE_LIMITED') res.shouldKeepAlive = false;
      throw refusal;
    },
    sweep: () => sweeper.sweep(),
    stop: () => sweeper.stop(),
  };
}
