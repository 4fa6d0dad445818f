// Request bodies read whole, within their own limit and the server's budget across connections, and
// what is left of a refused one read and dropped for a short while.
import type http from 'node:http';
import { DaemonError, isDaemonError } from '../errors.js';
import { bodyPiecesMax, REFUSED_UPLOAD_DISCARD_MS_MAX } from '../limits.js';
import type { BodyBudget } from './body-budget.js';

/**
 * Reads the whole body, refusing (413) as soon as it passes bytesMax rather than after, or (BUSY,
 * then `shed` ends the connection) when the budget of all bodies being read sheds this one. Pieces
 * are copied into one buffer that grows by doubling: kept as they came, small pieces would each hold
 * an object and part of a socket read beside it, hundreds of times their size.
 */
export function readBody(req: http.IncomingMessage, bytesMax: number, budget: BodyBudget, shed: () => void): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > bytesMax) return Promise.reject(new DaemonError('PAYLOAD_TOO_LARGE', `body larger than ${bytesMax} bytes`));
  const piecesMax = bodyPiecesMax(bytesMax);
  return new Promise((resolve, reject) => {
    let body = Buffer.alloc(0);
    let size = 0;
    let pieces = 0;
    let failed = false;
    const fail = (err: DaemonError): void => {
      failed = true;
      stop();
      // The request lives on while the rest of its body is discarded: what was read goes now.
      body = Buffer.alloc(0);
      reject(err);
    };
    const hold = budget.hold(() => {
      shed();
      fail(new DaemonError('BUSY', 'too many request bytes arriving at once across connections; retry'));
    });
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > bytesMax) return fail(new DaemonError('PAYLOAD_TOO_LARGE', `body larger than ${bytesMax} bytes`));
      if (++pieces > piecesMax)
        return fail(new DaemonError('BAD_REQUEST', `body sent in more than ${piecesMax} pieces (chunks of a few bytes); send it in larger ones`));
      // May shed this very body (fail() then drops it).
      hold.add(chunk.length);
      if (failed) return;
      if (size > body.length) {
        // Doubling: at most about twice what arrived is held, and copied about once over. A declared
        // length is not taken as room at once: a client could declare much and send little.
        const grown = Buffer.allocUnsafe(Math.min(bytesMax, Math.max(size, 2 * body.length, 1_024)));
        body.copy(grown, 0, 0, size - chunk.length);
        body = grown;
      }
      chunk.copy(body, size - chunk.length);
    };
    const stop = (): void => {
      req.off('data', onData);
      hold.release();
    };
    req.on('data', onData);
    req.on('end', () => {
      stop();
      resolve(body.subarray(0, size));
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
