// What a listener (line or HTTP server) reports to the daemon's operations (lib/operations): each
// request's outcome, each refused connection, and its current load. Owned here, by the servers.
import type { RequestRecorder } from './request-log.js';

/** A listener's load, read when metrics are scraped (nothing is counted on the hot path for it). */
export interface ListenerLoad {
  connections(): number;
  inFlight(): number;
}

export interface ListenerMetrics extends RequestRecorder {
  /** A connection refused before any request: BUSY, SHUTTING_DOWN, a channel refusal's code, or tls-handshake. */
  refused(reason: string): void;
  /** Called once when the listener starts. */
  observe(load: ListenerLoad): void;
}
