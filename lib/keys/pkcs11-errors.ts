// CKR_* return values → signerd error codes, plus what the session pool must do about each.
// Kept apart because it is long and a reviewer checks it alone. Unknown values fail closed.
import { DaemonError, type ErrorCode } from '../errors.js';

/** reopen: the token, login or object is gone, so finalize and reopen everything; discard: drop this session. */
export type Pkcs11Recovery = 'reopen' | 'discard' | 'none';

interface Row {
  code: ErrorCode;
  recovery: Pkcs11Recovery;
}

const reopen = (code: ErrorCode = 'BACKEND_UNAVAILABLE'): Row => ({ code, recovery: 'reopen' });
const discard = (code: ErrorCode): Row => ({ code, recovery: 'discard' });
const plain = (code: ErrorCode): Row => ({ code, recovery: 'none' });

export const CKR_TABLE: Readonly<Record<string, Row>> = {
  // Device, token, session or object loss: reported as unavailable, reopened on the next request.
  CKR_DEVICE_ERROR: reopen(),
  CKR_DEVICE_REMOVED: reopen(),
  CKR_TOKEN_NOT_PRESENT: reopen(),
  CKR_TOKEN_NOT_RECOGNIZED: reopen(),
  CKR_SESSION_CLOSED: reopen(),
  CKR_SESSION_HANDLE_INVALID: reopen(),
  CKR_OBJECT_HANDLE_INVALID: reopen(),
  CKR_KEY_HANDLE_INVALID: reopen(),
  CKR_USER_NOT_LOGGED_IN: reopen(),
  CKR_CRYPTOKI_NOT_INITIALIZED: reopen(),
  CKR_SLOT_ID_INVALID: reopen(),
  // SoftHSM answers CKR_GENERAL_ERROR once its token directory has gone.
  CKR_GENERAL_ERROR: reopen(),
  // Transient device conditions: this call failed, the session is kept.
  CKR_DEVICE_MEMORY: plain('BUSY'),
  CKR_HOST_MEMORY: plain('BUSY'),
  CKR_SESSION_COUNT: plain('BUSY'),
  CKR_FUNCTION_FAILED: plain('BACKEND_UNAVAILABLE'),
  CKR_FUNCTION_CANCELED: plain('BACKEND_UNAVAILABLE'),
  CKR_CANT_LOCK: plain('BACKEND_UNAVAILABLE'),
  // A session left mid-operation must never be reused.
  CKR_OPERATION_ACTIVE: discard('INTERNAL'),
  CKR_OPERATION_NOT_INITIALIZED: discard('INTERNAL'),
  CKR_BUFFER_TOO_SMALL: discard('INTERNAL'),
  // Login refusals: at start-up these exit 78; a reopen stops retrying (a retry loop locks PINs).
  CKR_PIN_INCORRECT: plain('HSM_LOGIN_FAILED'),
  CKR_PIN_INVALID: plain('HSM_LOGIN_FAILED'),
  CKR_PIN_LEN_RANGE: plain('HSM_LOGIN_FAILED'),
  CKR_PIN_LOCKED: plain('HSM_LOGIN_FAILED'),
  CKR_PIN_EXPIRED: plain('HSM_LOGIN_FAILED'),
  CKR_USER_PIN_NOT_INITIALIZED: plain('HSM_LOGIN_FAILED'),
  CKR_USER_TYPE_INVALID: plain('HSM_LOGIN_FAILED'),
  // The request's data does not fit the mechanism (wrong digest length, too long for raw RSA).
  CKR_DATA_LEN_RANGE: plain('BAD_REQUEST'),
  CKR_DATA_INVALID: plain('BAD_REQUEST'),
  // The token's policy or abilities: the key may not sign, or the mechanism is missing.
  CKR_KEY_FUNCTION_NOT_PERMITTED: plain('NOT_ALLOWED'),
  CKR_KEY_TYPE_INCONSISTENT: plain('NOT_ALLOWED'),
  CKR_KEY_SIZE_RANGE: plain('NOT_ALLOWED'),
  CKR_MECHANISM_INVALID: plain('NOT_IMPLEMENTED'),
  CKR_MECHANISM_PARAM_INVALID: plain('NOT_IMPLEMENTED'),
  CKR_FUNCTION_NOT_SUPPORTED: plain('NOT_IMPLEMENTED'),
};

/** Unknown CKR values: fail closed, and do not trust the session again. */
const UNKNOWN: Row = discard('BACKEND_UNAVAILABLE');

/** The CKR name of a pkcs11js Pkcs11Error (its message), or null for any other error. */
export function ckrName(err: unknown): string | null {
  const e = err as { name?: unknown; message?: unknown };
  if (e?.name !== 'Pkcs11Error' || typeof e.message !== 'string') return null;
  const match = /^(CKR_[A-Z0-9_]+)/.exec(e.message);
  return match ? match[1]! : null;
}

export interface ClassifiedError {
  error: DaemonError;
  recovery: Pkcs11Recovery;
}

/** `what` names the operation ("sign", "login"); the message carries the CKR name, never data. */
export function classifyPkcs11Error(err: unknown, what: string): ClassifiedError {
  if (err instanceof DaemonError) return { error: err, recovery: 'none' };
  const name = ckrName(err);
  if (name === null) {
    return { error: new DaemonError('INTERNAL', `HSM ${what} failed`, { cause: err }), recovery: 'discard' };
  }
  const row = CKR_TABLE[name] ?? UNKNOWN;
  const text = row.code === 'BACKEND_UNAVAILABLE' ? `HSM ${what} failed (${name}); the token is reopened automatically` : `HSM ${what} failed (${name})`;
  return { error: new DaemonError(row.code, text, { cause: err }), recovery: row.recovery };
}
