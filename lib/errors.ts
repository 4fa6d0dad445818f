// The one error type every daemon throws, with its code taken from one closed list.
// Transports (line protocol, HTTP) map codes to wire forms; core code never sees statuses.

/**
 * Request-time and start-up error codes, each with its meaning, whether the same request may
 * succeed if sent again later (`retryable`: the daemon or a backend was busy or away), and whether
 * it is a fault on the daemon's side (`fault`: logged at warn, INTERNAL at error, with the error
 * object) rather than a refusal of the request (logged at info). Documented one per row in
 * docs/errors.md (a test keeps them in step).
 */
export const ERROR_CODES = {
  BAD_REQUEST: { retryable: false, fault: false, meaning: 'the request is malformed (not hex, wrong field, wrong length)' },
  LINE_TOO_LONG: { retryable: false, fault: false, meaning: 'the request line is longer than the configured maximum; the connection is closed' },
  UNKNOWN_VERB: { retryable: false, fault: false, meaning: 'the request names a verb this daemon does not have' },
  UNKNOWN_KEY: { retryable: false, fault: false, meaning: 'no key with that name or id is configured' },
  NOT_FOUND: { retryable: false, fault: false, meaning: 'HTTP: no such path' },
  METHOD_NOT_ALLOWED: { retryable: false, fault: false, meaning: 'HTTP: the path exists but not for this method' },
  UNAUTHORIZED: { retryable: false, fault: false, meaning: 'tezos: the request lacks a valid authorized_keys signature (octez client authentication)' },
  UNAUTHENTICATED: {
    retryable: false,
    fault: false,
    meaning: 'client channel: no or unregistered credential, registration ended, or the channel outlived max-session; open a new channel',
  },
  FORBIDDEN: {
    retryable: false,
    fault: false,
    meaning: "client channel: the client's registration excludes this daemon, or it is blocked for abuse for a while",
  },
  RATE_LIMITED: { retryable: true, fault: false, meaning: 'client channel: over its rate; the text (HTTP: Retry-After) says when to retry' },
  NOT_ALLOWED: { retryable: false, fault: false, meaning: 'policy refuses this request for this key' },
  WATERMARK_REJECTED: { retryable: false, fault: false, meaning: 'signing would go at or below the stored watermark (double-sign protection)' },
  PAYLOAD_TOO_LARGE: { retryable: false, fault: false, meaning: 'the payload or body is larger than the configured maximum' },
  BUSY: { retryable: true, fault: false, meaning: 'too many connections or too much work in flight; try again' },
  SHUTTING_DOWN: { retryable: true, fault: false, meaning: 'the daemon is draining and takes no new work' },
  STORE_UNAVAILABLE: { retryable: true, fault: true, meaning: 'the validity or watermark store did not answer in time or refused; no verdict given' },
  LOG_UNAVAILABLE: { retryable: true, fault: true, meaning: 'the transparency log did not make the entry durable in time; the result was withheld' },
  BACKEND_UNAVAILABLE: { retryable: true, fault: true, meaning: 'the key backend (HSM, secret files) is unavailable; it is reopened automatically' },
  BACKEND_TIMEOUT: { retryable: true, fault: true, meaning: 'the key backend did not answer within its deadline' },
  REQUEST_TIMEOUT: { retryable: true, fault: false, meaning: 'HTTP: the whole request (upload included) did not arrive within its deadline' },
  SIGNATURE_CHECK_FAILED: { retryable: false, fault: true, meaning: 'a freshly made signature did not verify with the public key, so it was withheld' },
  NOT_IMPLEMENTED: { retryable: false, fault: false, meaning: 'the request needs a tool or feature this installation does not have' },
  INTERNAL: { retryable: false, fault: true, meaning: 'an unexpected fault; details are in the log, never in the reply' },
  CONFIG_INVALID: { retryable: false, fault: false, meaning: 'start-up: the configuration is invalid (exit 78)' },
  KEY_LOAD_FAILED: { retryable: false, fault: false, meaning: 'start-up: a key or secret could not be read or parsed (exit 78)' },
  KEY_FILE_INSECURE: {
    retryable: false,
    fault: false,
    meaning:
      "start-up: a private key or secret file is readable or writable by group or others, a file that grants access or sets policy (client registry, --config, tezos keys file) or a firmware key directory, certificate, HSM reference or PKCS#11 module is writable by them, any of these (or a SQLite state directory, or the firmware --http-temp-dir: itself too, unless sticky) sits under a directory they may write in (not sticky: the one holding it or any above it, as named and where symlinks lead), or any of them is owned by another user than the daemon's or root (exit 78)",
  },
  HSM_LOGIN_FAILED: { retryable: false, fault: false, meaning: 'start-up: the PKCS#11 token refused the login (exit 78)' },
} as const satisfies Record<string, { retryable: boolean; fault: boolean; meaning: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Exit status for start-up failures: sysexits EX_CONFIG, paired with systemd RestartPreventExitStatus=78. */
export const EXIT_CONFIG = 78;
/** sysexits EX_UNAVAILABLE: something outside is not there yet (a store, a port still held); a retry may succeed. */
export const EXIT_UNAVAILABLE = 69;

export class DaemonError extends Error {
  readonly code: ErrorCode;

  /** When the same request may succeed (RATE_LIMITED, a BUSY with a known wait): HTTP's Retry-After. */
  readonly retryAfterMs: number | undefined;

  /** METHOD_NOT_ALLOWED: the methods the path takes, which every HTTP 405 must name (Allow, RFC 9110 §15.5.6). */
  readonly allow: readonly string[] | undefined;

  /** `message` must be safe to send to a client: no secrets, no payloads. */
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retryAfterMs?: number; allow?: readonly string[] }) {
    // Expected refusals (a malformed line, a policy no) come at flood rates and are logged without
    // a stack; capturing one would cost more than the rest of the request. Faults keep theirs.
    const stackTraceLimit = Error.stackTraceLimit;
    if (!isFault(code)) Error.stackTraceLimit = 0;
    super(message, options);
    Error.stackTraceLimit = stackTraceLimit;
    this.code = code;
    this.retryAfterMs = options?.retryAfterMs;
    this.allow = options?.allow;
    this.name = 'DaemonError';
  }
}

/** Faults are logged with their error object (and so keep their stack); refusals are not. */
export function isFault(code: ErrorCode): boolean {
  return ERROR_CODES[code].fault;
}

/** The same request may succeed later (HTTP answers carry Retry-After). */
export function isRetryable(code: ErrorCode): boolean {
  return ERROR_CODES[code].retryable;
}

export function isDaemonError(err: unknown): err is DaemonError {
  return err instanceof DaemonError;
}

/** Wraps anything thrown into a DaemonError, keeping DaemonErrors as they are. */
export function toDaemonError(err: unknown, fallback: ErrorCode = 'INTERNAL'): DaemonError {
  if (err instanceof DaemonError) return err;
  return new DaemonError(fallback, fallback === 'INTERNAL' ? 'internal error' : String((err as Error)?.message ?? err), { cause: err });
}

/** The errors of a path the operator named (not of a network or a failing disk). */
const PATH_ERRORS = new Set(['ENOENT', 'ENOTDIR', 'EISDIR', 'EEXIST', 'EACCES', 'EPERM', 'EROFS', 'ELOOP', 'ENAMETOOLONG']);

/**
 * What a command that failed says on stderr, `<CODE>: <text>`: its own DaemonError, a path the
 * operator named that cannot be made, read or written as CONFIG_INVALID with the system's words,
 * anything else as INTERNAL.
 */
export function commandFailure(err: unknown): DaemonError {
  if (err instanceof DaemonError) return err;
  const errno = err as NodeJS.ErrnoException | undefined;
  if (typeof errno?.syscall === 'string' && PATH_ERRORS.has(errno.code ?? '')) return new DaemonError('CONFIG_INVALID', errno.message, { cause: err });
  return new DaemonError('INTERNAL', String((err as Error | undefined)?.message ?? err), { cause: err });
}

/** The one stderr line of a failed command: `<label>: <CODE>: <text>`. */
export function failureLine(label: string, err: unknown): string {
  const failure = commandFailure(err);
  return `${label}: ${failure.code}: ${failure.message}\n`;
}
