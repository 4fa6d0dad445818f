// An upload route's request, from admission to its work's deadline: room reserved before a byte is
// read, waiting for its turn only while the client is there, cutting a trickle, and freeing its
// private directory afterwards. The form's parsing is in multipart-form.ts.
import fs from 'node:fs/promises';
import type http from 'node:http';
import path from 'node:path';
import { DaemonError } from '../errors.js';
import { MULTIPART_HEADER_BYTES_MAX, MULTIPART_PARTS_MAX, UPLOAD_PROGRESS_BYTES_MIN } from '../limits.js';
import type { HttpReply, UploadRoute } from './http-service.js';
import { multipartUpload, type UploadedForm } from './multipart-form.js';
import type { RequestContext } from './request-runner.js';
import type { Admission, QueueLimits, UploadQueue } from './upload-queue.js';

export interface UploadLimits extends QueueLimits {
  /** Largest upload (the whole multipart body). */
  bodyBytesMax: number;
  /** An upload must bring its pace (uploadPaceBytes: at least UPLOAD_PROGRESS_BYTES_MIN) or its end in every window this long, or it is cut with 408. */
  idleMsMax: number;
  /** Time a route's work may take once the upload is in (then 504; its directory goes when the work ends). */
  processingMsMax: number;
}

/** A server's uploads: their bounds, their queue and its private directory. */
interface ServerUploads {
  limits: UploadLimits;
  queue: UploadQueue;
  dir: string;
  /** The request deadline (the upload included): an upload must keep the pace that brings it in by then. */
  requestMsMax: number;
}

/**
 * Bytes an upload holding `reserved` bytes of room must bring in each window of `windowMs`: at least
 * UPLOAD_PROGRESS_BYTES_MIN, and the steady pace that brings all of it in within the request deadline.
 * An upload slower than that could not finish anyway, and would hold its room, which other uploads
 * wait for, until the deadline: a trickle that declared 490 MiB held 490 MiB of room for 2 KiB/s.
 */
function uploadPaceBytes(reserved: number, windowMs: number, requestMsMax: number): number {
  return Math.max(UPLOAD_PROGRESS_BYTES_MIN, Math.ceil((reserved * windowMs) / requestMsMax));
}

/** One upload's resources: its route, its place in the queue, its private directory, its work. */
export interface UploadJob {
  route: UploadRoute | null;
  admission: Admission | null;
  dir: string | null;
  work: Promise<HttpReply> | null;
}

/**
 * Waits for a turn in the queue, or fails as an aborted upload as soon as the client hangs up, so a
 * client that gave up does not keep its place (the caller's leave() then withdraws the turn). A
 * hang-up is seen at once unless the socket was paused with its body waiting; then when it is read.
 */
function whileConnected(res: http.ServerResponse, turn: Promise<void>): Promise<void> {
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
 * Calls `onStall` when an upload brings less than `bytesMin` in a window of `windowMs` without
 * ending: a trickling client would otherwise hold its connection, its place and its room for the
 * whole request deadline.
 */
function watchProgress(req: http.IncomingMessage, windowMs: number, bytesMin: number, onStall: () => void): () => void {
  const socket = req.socket;
  let mark = socket.bytesRead;
  const timer = setInterval(() => {
    if (req.complete) return;
    if (socket.bytesRead - mark < bytesMin) {
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

function withDeadline<T>(work: Promise<T>, msMax: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DaemonError('BACKEND_TIMEOUT', `the work did not finish within ${msMax} ms`)), msMax);
  });
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}

/** One upload request: the route it takes, the server's uploads, its resources, and how to cut it short. */
interface UploadRequest {
  route: UploadRoute;
  uploads: ServerUploads;
  job: UploadJob;
  ctx: RequestContext;
  cut(err: DaemonError): void;
}

/** Admits, reserves, receives and runs one upload; its resources are in `job` for the caller to free. */
export async function receiveUpload(req: http.IncomingMessage, res: http.ServerResponse, expectsContinue: boolean, upload: UploadRequest): Promise<HttpReply> {
  const { route, job, ctx } = upload;
  job.route = route;
  const { limits: bounds, queue, dir } = upload.uploads;
  job.admission = queue.admit();
  const form = multipartUpload(req.headers, route.fields, {
    bodyBytesMax: bounds.bodyBytesMax,
    headerBytesMax: MULTIPART_HEADER_BYTES_MAX,
    partsMax: MULTIPART_PARTS_MAX,
  });
  const declared = req.headers['content-length'] === undefined ? null : Number(req.headers['content-length']);
  if (declared !== null && declared > bounds.bodyBytesMax) throw new DaemonError('PAYLOAD_TOO_LARGE', `body larger than ${bounds.bodyBytesMax} bytes`);
  // The upload's room on disk is reserved before a byte of it is read (a chunked upload reserves the
  // most it may send); until then the body waits in the socket, costing no disk and little memory.
  const reserved = declared ?? bounds.bodyBytesMax;
  await whileConnected(res, job.admission.reserveBytes(reserved));
  // Only now is curl's `Expect: 100-continue` answered, so a refused upload is never sent at all.
  if (expectsContinue) res.writeContinue();
  job.dir = await fs.mkdtemp(path.join(dir, 'req-'));
  const pace = uploadPaceBytes(reserved, bounds.idleMsMax, upload.uploads.requestMsMax);
  const stopWatching = watchProgress(req, bounds.idleMsMax, pace, () =>
    upload.cut(new DaemonError('REQUEST_TIMEOUT', `upload slower than ${pace} bytes per ${bounds.idleMsMax} ms`)),
  );
  let uploaded: UploadedForm;
  try {
    uploaded = await form.read(req, job.dir);
  } finally {
    stopWatching();
  }
  await whileConnected(res, job.admission.startJob());
  job.work = route.run(uploaded, { ...ctx, dir: job.dir });
  return withDeadline(job.work, bounds.processingMsMax);
}
