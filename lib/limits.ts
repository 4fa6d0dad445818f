// Every bound a daemon enforces, in one place, with units last in the names.
// Each is overridable by a command-line option; these are the defaults.

export interface Limits {
  /** Longest request line accepted, newline excluded. */
  lineBytesMax: number;
  /** Signable content is cut into chunks of this size, each signed and stored on its own. */
  chunkBytes: number;
  /** Open connections per daemon; one more is answered `ERR BUSY` and closed. */
  connectionsMax: number;
  /** Requests running at once across all connections; others wait their turn on their socket. */
  inFlightMax: number;
  /** A connection with no request in progress and no bytes for this long is closed. */
  idleTimeoutMs: number;
  /** In one-shot mode, how long to wait for another line after a reply before closing. */
  lingerMs: number;
  /** Deadline for one store command (Redis, SQLite busy wait). */
  storeCommandMsMax: number;
  /** Deadline for one key-backend call (HSM). */
  backendCallMsMax: number;
  /** On SIGTERM, how long in-flight requests may take to finish before the process exits anyway. */
  drainMsMax: number;
  /** HTTP front ends: largest request body. */
  httpBodyBytesMax: number;
  /** HTTP front ends: time allowed to receive a whole request. */
  httpRequestMsMax: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  lineBytesMax: 64 * 1024,
  chunkBytes: 2048,
  connectionsMax: 1024,
  inFlightMax: 256,
  idleTimeoutMs: 30_000,
  lingerMs: 100,
  storeCommandMsMax: 1_000,
  backendCallMsMax: 5_000,
  drainMsMax: 10_000,
  httpBodyBytesMax: 1024 * 1024,
  httpRequestMsMax: 30_000,
});

/** At start-up, how long a daemon waits for its store before it starts serving anyway. */
export const STORE_READY_MS_MAX = 5_000;
