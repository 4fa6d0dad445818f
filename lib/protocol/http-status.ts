// HTTP status for each error code. A Record over the closed list, so adding a code without
// deciding its status is a compile error. Daemons with their own error body shapes reuse this.
import type { ErrorCode } from '../errors.js';

/**
 * The header that carries the signerd error code on every HTTP error reply, whatever the body's
 * shape (octez's error trace, digsigserver's plain text): clients and tests read the code here.
 */
export const ERROR_CODE_HEADER = 'x-signerd-error-code';

export const HTTP_STATUS: Record<ErrorCode, number> = {
  BAD_REQUEST: 400,
  LINE_TOO_LONG: 413,
  UNKNOWN_VERB: 404,
  UNKNOWN_KEY: 404,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  UNAUTHORIZED: 401,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  RATE_LIMITED: 429,
  NOT_ALLOWED: 403,
  WATERMARK_REJECTED: 409,
  PAYLOAD_TOO_LARGE: 413,
  BUSY: 503,
  SHUTTING_DOWN: 503,
  STORE_UNAVAILABLE: 503,
  LOG_UNAVAILABLE: 503,
  BACKEND_UNAVAILABLE: 503,
  BACKEND_TIMEOUT: 504,
  REQUEST_TIMEOUT: 408,
  SIGNATURE_CHECK_FAILED: 500,
  NOT_IMPLEMENTED: 501,
  INTERNAL: 500,
  CONFIG_INVALID: 500,
  KEY_LOAD_FAILED: 500,
  KEY_FILE_INSECURE: 500,
  HSM_LOGIN_FAILED: 500,
};
