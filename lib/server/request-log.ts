// The one record every request leaves, from the line server and the HTTP server alike: msg
// "request" with conn, req, the handler's fields, outcome (ok or the error code) and ms; HTTP adds
// method, path and status. Refusals are logged at info, faults at warn (INTERNAL at error) with the error
// (a fault code's stack once a minute).
// A listener in summary mode (--request-log summary, hmac's default) logs its successes as one
// "requests" record a second (count, mean and max ms, per client) and every other outcome as above.
import { stdSerializers, type Logger } from 'pino';
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
  summary?: OutcomeSummary | null,
): void {
  // Set in place, not spread: the line server calls this on every request.
  const ms = msSince(started);
  recorder?.record(outcome, ms / 1000);
  if (summary && outcome === 'ok') return summary.add(ms, fields['client']);
  fields['outcome'] = outcome;
  fields['ms'] = ms;
  const level = failure === undefined ? 'info' : failure.code === 'INTERNAL' ? 'error' : isFault(failure.code) ? 'warn' : 'info';
  if (level !== 'info') fields['err'] = level === 'error' || stackDue(failure!.code) ? failure!.thrown : withoutStack(failure!.thrown);
  log[level](fields, 'request');
}

/** How often a fault code's stack is logged in full; its other records keep the message and its causes. */
const FAULT_STACK_INTERVAL_MS = 60_000;

const stackLoggedMs = new Map<ErrorCode, number>();

/**
 * During an outage every request fails with the same fault (a store away: thousands a second), and
 * a stack of twenty lines each time would flood journald and push other records out of the bounded
 * stdout buffer. The first of each code a minute keeps its stack; INTERNAL (a bug) always does.
 */
function stackDue(code: ErrorCode): boolean {
  const now = Date.now();
  const last = stackLoggedMs.get(code);
  if (last !== undefined && now - last < FAULT_STACK_INTERVAL_MS) return false;
  stackLoggedMs.set(code, now);
  return true;
}

/** The error as pino's own serializer logs it (type, message with its causes, code), less the stack. */
function withoutStack(thrown: unknown): unknown {
  if (!(thrown instanceof Error)) return thrown;
  const { stack: _stack, ...rest } = stdSerializers.err(thrown);
  return rest;
}

function msSince(started: bigint): number {
  return Number((process.hrtime.bigint() - started) / 1000n) / 1000;
}

export type RequestLogMode = 'each' | 'summary';

/** Successful requests of one listener, logged together once a second. */
export interface OutcomeSummary {
  add(ms: number, client: unknown): void;
  /** Logs what is pending and stops the timer (the listener closed). */
  close(): void;
}

/** Distinct client names kept per summary line; more are counted under "(others)". */
const SUMMARY_CLIENTS_MAX = 64;

/**
 * `port()`: the listener's port, known once it listens; it tells a daemon's listeners apart (hmac's
 * MAC and verify listeners each log their own summary).
 */
export function createOutcomeSummary(log: Logger, port: () => number | undefined, intervalMs = 1_000): OutcomeSummary {
  let count = 0;
  let totalMs = 0;
  let maxMs = 0;
  let clients: Map<string, number> | null = null;
  const flush = (): void => {
    if (count === 0) return;
    const fields: Record<string, unknown> = { port: port(), outcome: 'ok', requests: count, msMean: Math.round((totalMs / count) * 1000) / 1000, msMax: maxMs };
    if (clients) fields['clients'] = Object.fromEntries(clients);
    log.info(fields, 'requests');
    count = 0;
    totalMs = 0;
    maxMs = 0;
    clients = null;
  };
  const timer = setInterval(flush, intervalMs).unref();
  return {
    add(ms, client) {
      count++;
      totalMs += ms;
      if (ms > maxMs) maxMs = ms;
      if (typeof client === 'string') {
        clients ??= new Map();
        const name = clients.has(client) || clients.size < SUMMARY_CLIENTS_MAX ? client : '(others)';
        clients.set(name, (clients.get(name) ?? 0) + 1);
      }
    },
    close() {
      clearInterval(timer);
      flush();
    },
  };
}
