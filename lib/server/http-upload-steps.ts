// The steps of an upload beside the form's parsing: waiting for its turn only while the client is
// there, cutting a trickle, its work's deadline, and freeing its private directory afterwards.
import fs from 'node:fs/promises';
import type http from 'node:http';
import { DaemonError } from '../errors.js';
import { UPLOAD_PROGRESS_BYTES_MIN } from '../limits.js';
import type { HttpReply } from './http-service.js';
import type { Admission } from './upload-queue.js';

/** One upload's resources: its place in the queue, its private directory, its work. */
export interface UploadJob {
  admission: Admission | null;
  dir: string | null;
  work: Promise<HttpReply> | null;
}

/**
 * Waits for a turn in the queue, or fails as an aborted upload as soon as the client hangs up, so a
 * client that gave up does not keep its place (the caller's leave() then withdraws the turn). A
 * hang-up is seen at once unless the socket was paused with its body waiting; then when it is read.
 */
export function whileConnected(res: http.ServerResponse, turn: Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => {
    const gone = () => reject(new DaemonError('BAD_REQUEST', 'upload aborted by the client'));
    // Handled even after a hang-up: leave() will refuse the turn, and nobody else waits for it.
    turn.then(
      () => {
        res.off('close', gone);
        resolve();
      },
      (err: Error) => {
        res.off('close', gone);
        reject(err);
      },
    );
    if (res.destroyed) gone();
    else res.once('close', gone);
  });
}

/**
 * Calls `onStall` when an upload brings less than UPLOAD_PROGRESS_BYTES_MIN in a window of
 * `windowMs` without ending: a trickling client would otherwise hold its connection and its place
 * for the whole request deadline.
 */
export function watchProgress(req: http.IncomingMessage, windowMs: number, onStall: () => void): () => void {
  const socket = req.socket;
  let mark = socket.bytesRead;
  const timer = setInterval(() => {
    if (req.complete) return;
    if (socket.bytesRead - mark < UPLOAD_PROGRESS_BYTES_MIN) {
      clearInterval(timer);
      onStall();
    }
    mark = socket.bytesRead;
  }, windowMs);
  return () => clearInterval(timer);
}

/** Frees an upload's directory; a job cut off by its deadline keeps it until its work settles. */
export async function release(job: UploadJob): Promise<void> {
  if (job.work) await job.work.catch(() => undefined);
  if (job.dir) await fs.rm(job.dir, { recursive: true, force: true });
  job.dir = null;
}

export function withDeadline<T>(work: Promise<T>, msMax: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DaemonError('BACKEND_TIMEOUT', `the work did not finish within ${msMax} ms`)), msMax);
  });
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}
