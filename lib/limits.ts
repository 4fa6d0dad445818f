// Every bound a daemon enforces, in one place, with units last in the names.
// The Limits fields are overridable by command-line options; the rest are fixed bounds and option defaults.

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
  /** A request line must be complete within this long of its first byte, however slowly it trickles. */
  lineMsMax: number;
  /** In one-shot mode, how long to wait for another line after the last reply before closing (0: close at once). */
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
  inFlightMax: 16,
  idleTimeoutMs: 30_000,
  lineMsMax: 10_000,
  lingerMs: 0,
  storeCommandMsMax: 1_000,
  backendCallMsMax: 5_000,
  drainMsMax: 10_000,
  httpBodyBytesMax: 1024 * 1024,
  httpRequestMsMax: 30_000,
});

/** At start-up, how long a daemon waits for its store before it starts serving anyway. */
export const STORE_READY_MS_MAX = 5_000;

// Bounds with no command-line option, and the defaults of daemon-specific options. Each is
// imported by the one place that enforces it.

/** Requests one connection runs back to back before it yields the event loop to the others. */
export const REQUESTS_PER_TURN_MAX = 16;
/** Input read and not yet answered, across one server's connections; past it the largest holder is shed (ERR BUSY). */
export const INPUT_HELD_BYTES_MAX = 16 * 1024 * 1024;
/** A record's `--ttl` at most: 100 years, so every expiry stays a date that `show`, `export` and `import` handle. */
export const TTL_SECONDS_MAX = 3_155_760_000;
/** Bulk requests (from connections with more lines waiting) one server starts per event-loop turn. */
export const TURN_REQUESTS_MAX = 64;
/** A connection's first requests wait in the gate's fresh queue, ahead of connections that have had more. */
export const FRESH_REQUESTS_MAX = 4;
/** One-shot mode: an unterminated request with no new byte for this long is taken as it is (answered within 50 ms). */
export const ONE_SHOT_QUIET_MS = 20;
/** After a fatal framing error we read and discard for this long so the client sees our reply. */
export const FRAMING_ERROR_DISCARD_MS = 2_000;
/**
 * A plaintext line listener at its connection cap closes the connection quiet longest (no request
 * under way, no byte for at least this long) to admit a newcomer: loopback clients have no identity
 * to share places by, and idle sockets must not keep every other client at ERR BUSY.
 */
export const CONNECTION_QUIET_EVICT_MS = 1_000;
/** HTTP front ends: time allowed to receive the request headers (capped by httpRequestMsMax). */
export const HTTP_HEADERS_MS_MAX = 10_000;
/** HTTP front ends: how long an idle keep-alive connection stays open. */
export const HTTP_KEEP_ALIVE_MS = 5_000;
/** HTTP front ends: how often request deadlines are checked, so how late a 408 can come. */
export const HTTP_DEADLINE_CHECK_INTERVAL_MS = 1_000;
/** HTTP front ends: a connection given its last reply is destroyed after this, whatever the client does. */
export const HTTP_CLOSE_GRACE_MS = 1_000;
/** Line listeners: a connection whose request the drain deadline cut is destroyed this long after its ERR line. */
export const DRAIN_CUT_CLOSE_MS = 1_000;
/** HTTP front ends: a reply that makes no progress this long (its client stopped reading) is cut, with its connection. */
export const HTTP_REPLY_STALL_MS_MAX = 30_000;
/** HTTP front ends: Retry-After of a retryable error (a service may set its own, e.g. a spread-out one for BUSY). */
export const HTTP_RETRY_AFTER_S = 1;
/**
 * HTTP front ends: requests a connection may have parsed and not yet answered (pipelined). They are
 * served one at a time, in order; one more closes the connection. No real client pipelines.
 */
export const HTTP_PIPELINE_DEPTH_MAX = 16;
/** HTTP front ends: connections past the cap still answered 503 BUSY (each closed within HTTP_REFUSED_CLOSE_MS); more are reset. */
export const HTTP_REFUSALS_PENDING_MAX = 64;
/** HTTP front ends: a connection past the cap is closed this long after it came, answered or not. */
export const HTTP_REFUSED_CLOSE_MS = 2_000;
/** HTTP uploads: how long the rest of a refused upload is read and dropped before the connection is cut. */
export const REFUSED_UPLOAD_DISCARD_MS_MAX = 5_000;

/**
 * HTTP bodies: how many pieces (chunks of a chunked body, reads of the socket) a body may come in. Each
 * costs a turn of the parser and an object however small it is, so a body sent a byte at a time took
 * hundreds of times its size in memory and seconds of the event loop. At least 1,024 pieces, and
 * 512 bytes a piece on average beyond that: far more than a client's chunks or a slow link's TCP
 * segments (about 1,400 bytes each) ever make.
 */
export function bodyPiecesMax(bodyBytesMax: number): number {
  return Math.max(1_024, Math.ceil(bodyBytesMax / 512));
}
/** HTTP uploads: an upload slower than this per idle window is cut with 408. */
export const UPLOAD_PROGRESS_BYTES_MIN = 64 * 1024;
/**
 * HTTP uploads: chunk of the file streams (and of zlib's work) behind uploads and file replies. Each
 * chunk is one trip to the thread pool; with Node's defaults (16 KiB zlib, 64 KiB files) a 200 KB
 * module's tarball took about 30 trips each way, most of a request's time. Held per request in flight.
 */
export const FILE_STREAM_CHUNK_BYTES = 256 * 1024;
/** HTTP uploads: headers of one multipart part. */
export const MULTIPART_HEADER_BYTES_MAX = 8 * 1024;
/** HTTP uploads: parts in one multipart form. */
export const MULTIPART_PARTS_MAX = 16;
/** Expired SQLite validity rows are deleted this often; Redis expires its own keys. */
export const PURGE_INTERVAL_MS = 60_000;
/** Longest signature made or accepted: RSA-16384 is 2048 bytes; anything longer cannot be ours. */
export const SIGNATURE_BYTES_MAX = 2048;

/** Sessions per HSM key: SoftHSM signs on libuv's 4 worker threads, a network HSM on its own cores. */
export const PKCS11_SESSIONS_MAX = 4;
/** A lost token is reopened at most this often (each attempt is a synchronous C_Initialize). */
export const PKCS11_REOPEN_INTERVAL_MS = 1_000;

/** hmac derived mode: verify computes one tag per loaded key version, so their number is bounded. */
export const HMAC_LOADED_VERSIONS_MAX = 8;

/** Longest base58 text ever decoded (Tezos encrypted secret keys are 88, BLS signatures 142; `signerd log bundle` takes these too). */
export const BASE58_TEXT_CHARS_MAX = 200;

/** etcd (JSON gateway): the largest response body read; a range of watermarks is paged well below it. */
export const ETCD_RESPONSE_BYTES_MAX = 4 * 1024 * 1024;
/** etcd: keys read per page when listing (watermark export). */
export const ETCD_RANGE_KEYS_MAX = 1000;
/** etcd: sockets per process to the members (keep-alive; requests beyond wait for one). */
export const ETCD_SOCKETS_MAX = 16;
/** etcd: compare-and-set attempts of one request before it fails closed (STORE_UNAVAILABLE) under contention. */
export const ETCD_CAS_ATTEMPTS_MAX = 8;

/** How long a process opening the validity store waits for another one that is migrating its schema. */
export const SQLITE_MIGRATION_WAIT_MS_MAX = 10 * 60_000;

/**
 * Shutdown: requests still running when the drain deadline closed their connections (a store write,
 * an HSM call) get this long to end before the backends they use are closed under them.
 */
export const IN_FLIGHT_SETTLE_MS_MAX = 2_000;
/**
 * After SIGTERM the process exits by its drain deadline (--drain-ms-max), the in-flight settle above
 * and this much more for the backends to close and the log to flush, even if one of them hangs. At
 * the default drain that is 15 s, under the shipped unit's TimeoutStopSec=20.
 */
export const SHUTDOWN_CLOSE_MS_MAX = 3_000;

/** Log bytes waiting for stdout; past this, lines are dropped and counted rather than held. */
export const LOG_BUFFER_BYTES_MAX = 16 * 1024 * 1024;
/** How often dropped log lines are reported. */
export const LOG_DROP_REPORT_MS = 1_000;

/** A --config file or the tezos keys file: configuration, never data; a larger file is a mistake. */
export const CONFIG_FILE_BYTES_MAX = 1024 * 1024;
/** How long the exit waits for the log to flush; a dead stdout pipe never flushes. */
export const LOG_FLUSH_MS_MAX = 500;

// Transparency log (lib/transparency/).
/** One log entry: entry bundles prefix each entry with a uint16 length (C2SP tlog-tiles). */
export const LOG_ENTRY_BYTES_MAX = 65_535;
/** One text field of a log entry (key id, algorithm, artifact name, ...). */
export const LOG_FIELD_CHARS_MAX = 1024;
/** A public key logged when a key is loaded (SubjectPublicKeyInfo DER; RSA-16384 is about 2.1 KB). */
export const PUBLIC_KEY_BYTES_MAX = 4096;
/** Entries made durable by one commit (one fsync); more wait for the next commit. */
export const LOG_BATCH_ENTRIES_MAX = 1024;
/** Appends waiting for a commit in one process; more are refused BUSY (daemons' inFlightMax keeps far below). */
export const LOG_PENDING_ENTRIES_MAX = 8 * LOG_BATCH_ENTRIES_MAX;
/** Deadline of one append: waiting for the commit in progress, the cross-process lock and our commit. */
export const LOG_APPEND_MS_MAX = 5_000;
/** How long the log writer waits for another process's commit (the SQLite write lock) before failing. */
export const LOG_LOCK_WAIT_MS_MAX = 4_000;
/** A new checkpoint is signed and published at most this long after an append. */
export const LOG_CHECKPOINT_INTERVAL_MS = 1_000;
/** A log's (and its key's) name: the checkpoint origin line. */
export const NOTE_KEY_NAME_CHARS_MAX = 256;
/** A signed note read from a file: a checkpoint with room for many cosignatures. */
export const NOTE_BYTES_MAX = 64 * 1024;
/** Signatures read from one note (the signed-note spec asks verifiers to accept at least 16). */
export const NOTE_SIGNATURES_MAX = 100;
/** A proof bundle or proof file read back: one entry, at most 63 proof hashes and a checkpoint. */
export const LOG_PROOF_FILE_BYTES_MAX = 256 * 1024;
/** Opening a log: the writer thread reconciles the checkpoint with the database and rewrites missing tiles. */
export const LOG_OPEN_MS_MAX = 60_000;

/** Client channels: TLS handshakes must finish within this long of the connection. */
export const TLS_HANDSHAKE_MS_MAX = 10_000;
/** Client channels: sockets in their TLS handshake beyond the connection cap; more are reset. */
export const TLS_HANDSHAKES_PENDING_MAX = 64;
/**
 * Client channels: channels one identity may open a minute before it is blocked for a while. A bash
 * client opens one channel per request (`echo x | openssl s_client`), so this is well above what such
 * a loop reaches (a full handshake costs the server 2-6 ms: one core serves a few hundred a second);
 * `rate=` is the per-client throttle, this only stops a runaway identity.
 */
export const CHANNEL_HANDSHAKES_PER_MINUTE_MAX = 6_000;
/** Client channels: requests refused for rate a minute before the identity is blocked for a while. */
export const CHANNEL_REFUSALS_PER_MINUTE_MAX = 600;
/** Client channels: how long a block for abuse lasts. */
export const CHANNEL_BLOCK_MS = 60_000;
/** Client channels: identities whose rate and abuse counts are kept (oldest dropped first). */
export const CHANNEL_IDENTITIES_MAX = 10_000;
/** Client channels: how often open channels are checked against the registry, expiry and max-session. */
export const CHANNEL_SWEEP_MS = 500;

/** Readiness (lib/operations): how often a store is probed; /readyz turns 503 within about twice this of an outage. */
export const STORE_PROBE_INTERVAL_MS = 1_000;
/** Readiness: how often each key makes and checks a test signature (and at once after a backend fault). */
export const KEY_PROBE_INTERVAL_MS = 10_000;
/** Readiness: a probe that has not answered within this long counts as failed. */
export const PROBE_MS_MAX = 1_500;
/** A daemon that is not ready says why in its log this often. */
export const UNREADY_LOG_INTERVAL_MS = 5_000;
/** The metrics listener: time allowed for a whole scrape request, and its connection cap. */
export const METRICS_REQUEST_MS_MAX = 5_000;
export const METRICS_CONNECTIONS_MAX = 16;
/** Metrics listener: requests a connection may have outstanding (pipelined); one more closes it. */
export const METRICS_PIPELINE_DEPTH_MAX = 4;
/** systemd-notify must answer within this long (it waits for systemd to take the message). */
export const SYSTEMD_NOTIFY_MS_MAX = 5_000;
