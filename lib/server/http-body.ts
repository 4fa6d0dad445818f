// Request bodies read whole, within their own limit and the server's budget across connections, and
// what is left of a refused one read and dropped for a short while.
import type http from 'node:http';
import { DaemonError, isDaemonError } from '../errors.js';
import { REFUSED_UPLOAD_DISCARD_MS_MAX } from '../limits.js';
import type { BodyBudget } from './body-budget.js';

/**
 * Reads the whole body, refusing (413) as soon as it passes bytesMax rather than after, or (BUSY,
 * then `shed` ends the connection) when the budget of all bodies being read sheds this one.
 */
export function readBody(req: http.IncomingMessage, bytesMax: number, budget: BodyBudget, shed: () => void): Promise<Buffer> {
  if (Number(req.headers['content-length'] ?? 0) > bytesMax) return Promise.reject(new DaemonError('PAYLOAD_TOO_LARGE', `body larger than ${bytesMax} bytes`));
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    const fail = (err: DaemonError): void => {
      stop();
      // The request lives on while the rest of its body is discarded: what was read goes now.
      parts.length = 0;
      reject(err);
    };
    const hold = budget.hold(() => {
      shed();
      fail(new DaemonError('BUSY', 'too many request bytes arriving at once across connections; retry'));
    });
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > bytesMax) return fail(new DaemonError('PAYLOAD_TOO_LARGE', `body larger than ${bytesMax} bytes`));
      parts.push(chunk);
      hold.add(chunk.length);
    };
    const stop = (): void => {
      req.off('data', onData);
      hold.release();
    };
    req.on('data', onData);
    req.on('end', () => {
      stop();
      resolve(Buffer.concat(parts));
    });
    // A request the server cut (its deadline) fails with the server's own error, answered already.
    req.on('error', (err) => fail(isDaemonError(err) ? err : new DaemonError('BAD_REQUEST', `request body: ${err.message}`)));
  });
}

/** Reads and drops what is left of a refused body for a short while, then hangs up; `ended` once it is all in. */
export function discardRest(req: http.IncomingMessage, ended: () => void): void {
  const timer = setTimeout(() => req.socket.destroy(), REFUSED_UPLOAD_DISCARD_MS_MAX);
  req.once('end', () => {
    clearTimeout(timer);
    ended();
  });
  req.once('close', () => clearTimeout(timer));
  req.resume();
}
