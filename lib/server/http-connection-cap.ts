// The HTTP front ends' connection cap: past connectionsMax, a connection is answered 503 BUSY on its
// first request and closed (as the line server answers ERR BUSY), instead of being reset unheard.
import type http from 'node:http';
import type net from 'node:net';
import { HTTP_REFUSED_CLOSE_MS } from '../limits.js';
import type { ListenerMetrics } from './listener-metrics.js';
import type { RefusalLog } from './refusal-log.js';

export interface ConnectionCap {
  /** Whether this connection came past the cap: its request is answered BUSY, whoever sends it. */
  isOver(socket: net.Socket): boolean;
}

/**
 * Counts the server's connections; TLS ones once their handshake is done (sockets still in their
 * handshake are bounded by the server's maxConnections). Over-cap connections are logged once a
 * second at most and closed after HTTP_REFUSED_CLOSE_MS whatever they do; the ones node:http drops
 * past maxConnections are logged and counted here, the others by their request's record.
 * Installed before any other 'secureConnection' listener, which may ask isOver.
 */
export function capConnections(
  server: http.Server,
  opts: { connectionsMax: number; tls: boolean; refusals: RefusalLog; metrics?: ListenerMetrics | undefined },
): ConnectionCap {
  const over = new WeakSet<net.Socket>();
  let admitted = 0;
  server.on(opts.tls ? 'secureConnection' : 'connection', (socket: net.Socket) => {
    if (admitted < opts.connectionsMax) {
      admitted++;
      socket.once('close', () => admitted--);
      return;
    }
    over.add(socket);
    opts.refusals.note('BUSY');
    const timer = setTimeout(() => socket.destroy(), HTTP_REFUSED_CLOSE_MS);
    socket.once('close', () => clearTimeout(timer));
  });
  server.on('drop', () => {
    opts.refusals.note('BUSY');
    opts.metrics?.refused('BUSY');
  });
  return { isOver: (socket) => over.has(socket) };
}
