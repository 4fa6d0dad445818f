// The ports this process listens on. A listen that fails with EADDRINUSE on one of them is two of
// the daemon's own listeners given the same port: a configuration error no restart mends (exit 78),
// unlike a port another process still holds (exit 69, which systemd retries).
import type net from 'node:net';

const ports = new Set<number>();

/** Records the port `server` listens on; call once it listens. */
export function noteListening(server: net.Server): void {
  const address = server.address();
  if (address !== null && typeof address === 'object') ports.add(address.port);
}

export function listensOn(port: number): boolean {
  return ports.has(port);
}
