// The one record every request leaves, from the line server and the HTTP server alike: msg
// "request" with conn, req, the handler's fields, outcome (ok or the error code) and ms; HTTP adds
// method, path and status. Refusals are logged at info, faults at warn (INTERNAL at error) with the error.
import type { Logger } from 'pino';
import { isFault, type ErrorCode } from '../errors.js';

/** Where a listener's request outcomes are counted (lib/operations: metrics and readiness); optional. */
export interface RequestRecorder {
  /** `outcome` as logged; `seconds` since the request began. Called on every request: must be cheap. */
  record(outcome: string, seconds: number): void;
}

/**
 * Logs `fields` (already holding conn, req and the handler's fields) as the request's outcome, and
 * counts it with the listener's recorder (when it has one).
 * `outcome` is 'ok', the error code, or what became of the reply ('client-gone'); `failure` is the
 * error the request ended with, if any.
 */
export function logRequest(
  log: Logger,
  fields: Record<string, unknown>,
  started: bigint,
  outcome: string,
  failure?: { code: ErrorCode; thrown: unknown },
  recorder?: RequestRecorder,
): void {
  // Set in place, not spread: the line server calls this on every request.
  const ms = msSince(started);
  fields['outcome'] = outcome;
  fields['ms'] = ms;
  recorder?.record(outcome, ms / 1000);
  const level = failure === undefined ? 'info' : failure.code === 'INTERNAL' ? 'error' : isFault(failure.code) ? 'warn' : 'info';
  if (level !== 'info') fields['err'] = failure!.thrown;
  log[level](fields, 'request');
}

function msSince(started: bigint): number {
  return Number((process.hrtime.bigint() - started) / 1000n) / 1000;
}
