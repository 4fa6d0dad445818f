// Client channels: at most TLS_HANDSHAKES_PENDING_MAX sockets in their TLS handshake at once, per
// listener; a newcomer past it pushes out the oldest. So connections that never finish a handshake
// (a flood of idle sockets, held until the handshake deadline) cannot keep registered clients out.
import type net from 'node:net';
import type tls from 'node:tls';

/**
 * Tracks every socket from its TCP accept to its finished handshake (or close). A client's handshake
 * takes milliseconds; what is still pending after many newer arrivals is a socket that does not
 * speak. The oldest goes first: to keep a client out, a flood must now open sockets faster than
 * that client completes its handshake, rather than hold a few thousand idle ones. `onEvict` is told
 * of each (for the refusal log and the metrics).
 */
export function boundHandshakes(server: tls.Server, max: number, onEvict: () => void): void {
  // Insertion order is age. Keyed by the peer's address and port, which the TCP socket and its TLS
  // socket share, and which no two live connections to one listener have.
  const pending = new Map<string, net.Socket>();
  const keyOf = (socket: net.Socket): string | null =>
    socket.remoteAddress === undefined || socket.remotePort === undefined ? null : `${socket.remoteAddress}|${socket.remotePort}`;
  server.on('connection', (socket: net.Socket) => {
    const key = keyOf(socket);
    // Already reset by the peer: nothing to wait for.
    if (key === null) return void socket.destroy();
    pending.set(key, socket);
    socket.once('close', () => {
      if (pending.get(key) === socket) pending.delete(key);
    });
    if (pending.size <= max) return;
    const [oldestKey, oldest] = pending.entries().next().value as [string, net.Socket];
    pending.delete(oldestKey);
    oldest.destroy();
    onEvict();
  });
  server.on('secureConnection', (socket: tls.TLSSocket) => {
    const key = keyOf(socket);
    if (key !== null) pending.delete(key);
  });
}
