// Admission of HTTP uploads (lib/server/serve-http.ts): at most jobsMax are worked on at once and at
// most queueMax more are let in to upload and wait; the uploads they hold on disk are bounded in
// bytes, turns are first come first served, and no request waits longer than queueMsMax in all.
import { DaemonError } from '../errors.js';

export interface QueueLimits {
  /** Requests worked on at once (CPU). */
  jobsMax: number;
  /** Requests let in beyond those: receiving their upload, or waiting for upload room or a job slot. */
  queueMax: number;
  /** Upload bytes the admitted requests may hold on disk together. */
  queueBytesMax: number;
  /** Longest a request waits in all (for upload room and for a job slot). */
  queueMsMax: number;
}

export interface UploadQueue {
  /** Lets a request in, or throws BUSY when jobsMax + queueMax are already in (SHUTTING_DOWN once closed). */
  admit(): Admission;
  /** Refuses every waiting request with SHUTTING_DOWN and lets no more in (drain). */
  close(): void;
}

export interface Admission {
  /** Waits its turn until `bytes` of upload room are free; BUSY when the wait bound is reached. */
  reserveBytes(bytes: number): Promise<void>;
  /** Waits its turn for a job slot; BUSY when the wait bound is reached. */
  startJob(): Promise<void>;
  /** Milliseconds spent waiting so far (for the request's log line). */
  waitedMs(): number;
  /** Gives back its place, its bytes and its slot; safe to call more than once. */
  leave(): void;
}

interface Waiter {
  fits(): boolean;
  take(): void;
  resolve(): void;
  reject(err: DaemonError): void;
  timer: NodeJS.Timeout;
}

export function createUploadQueue(limits: QueueLimits): UploadQueue {
  let admitted = 0;
  let bytesHeld = 0;
  let working = 0;
  let closed = false;
  const roomWaiters: Waiter[] = [];
  const slotWaiters: Waiter[] = [];

  // First come, first served: a waiter behind one that does not fit waits too, so a large upload
  // is never starved by a stream of small ones.
  const serve = (line: Waiter[]): void => {
    while (line.length > 0 && line[0]!.fits()) {
      const waiter = line.shift()!;
      clearTimeout(waiter.timer);
      waiter.take();
      waiter.resolve();
    }
  };
  const serveAll = (): void => {
    serve(roomWaiters);
    serve(slotWaiters);
  };

  return {
    admit() {
      if (closed) throw new DaemonError('SHUTTING_DOWN', 'daemon is shutting down');
      if (admitted >= limits.jobsMax + limits.queueMax) throw new DaemonError('BUSY', 'too many requests waiting; try again later');
      admitted++;
      let bytes = 0;
      let slot = false;
      let left = false;
      let waited = 0;
      let waiting: { line: Waiter[]; waiter: Waiter } | null = null;

      const wait = (line: Waiter[], fits: () => boolean, take: () => void, what: string): Promise<void> => {
        if (left) return Promise.reject(new DaemonError('INTERNAL', 'request already left the queue'));
        if (line.length === 0 && fits()) {
          take();
          return Promise.resolve();
        }
        const since = Date.now();
        return new Promise<void>((resolve, reject) => {
          const done = () => {
            waited += Date.now() - since;
            waiting = null;
          };
          const waiter: Waiter = {
            fits,
            take: () => {
              done();
              take();
            },
            resolve,
            reject: (err) => {
              done();
              reject(err);
            },
            timer: setTimeout(
              () => {
                line.splice(line.indexOf(waiter), 1);
                waiter.reject(new DaemonError('BUSY', `waited ${limits.queueMsMax} ms for ${what}; try again later`));
                // The head may have been the one that did not fit: the next ones may now.
                serveAll();
              },
              Math.max(0, limits.queueMsMax - waited),
            ),
          };
          waiting = { line, waiter };
          line.push(waiter);
        });
      };

      return {
        reserveBytes(n) {
          if (n > limits.queueBytesMax) return Promise.reject(new DaemonError('PAYLOAD_TOO_LARGE', `upload larger than ${limits.queueBytesMax} bytes`));
          return wait(
            roomWaiters,
            () => bytesHeld + n <= limits.queueBytesMax,
            () => {
              bytesHeld += n;
              bytes += n;
            },
            'upload room',
          );
        },
        startJob() {
          return wait(
            slotWaiters,
            () => working < limits.jobsMax,
            () => {
              working++;
              slot = true;
            },
            'a job slot',
          );
        },
        waitedMs: () => waited,
        leave() {
          if (left) return;
          left = true;
          if (waiting) {
            const { line, waiter } = waiting;
            clearTimeout(waiter.timer);
            line.splice(line.indexOf(waiter), 1);
            waiter.reject(new DaemonError('BUSY', 'request left the queue'));
          }
          admitted--;
          bytesHeld -= bytes;
          if (slot) working--;
          serveAll();
        },
      };
    },
    close() {
      closed = true;
      for (const line of [roomWaiters, slotWaiters]) {
        for (const waiter of line.splice(0)) {
          clearTimeout(waiter.timer);
          waiter.reject(new DaemonError('SHUTTING_DOWN', 'daemon is shutting down'));
        }
      }
    },
  };
}
