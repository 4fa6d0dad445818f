// The log writer's thread: it owns the sequencer database, so that waiting for another process's
// commit and for fsync never blocks a daemon's event loop. It handles one request at a time, in
// the order they arrive; the daemon thread batches appends while a commit is in progress.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { isDaemonError, type ErrorCode } from '../errors.js';
import { rootHash } from './merkle-tree.js';
import { openSequencer, SEQUENCER_FILE, type AppendResult, type Sequencer } from './sequencer-db.js';
import { publishCheckpoint, reconcile } from './tile-publisher.js';
import {
  unpackBatch,
  type HeadState,
  type SequencerReady,
  type SequencerReply,
  type SequencerRequest,
  type SequencerWorkerData,
} from './sequencer-messages.js';

const data = workerData as SequencerWorkerData;
const port = parentPort!;

function failure(err: unknown): { code: ErrorCode; message: string } {
  if (isDaemonError(err)) return { code: err.code, message: err.message };
  // SQLite and file errors: the code names the cause (SQLITE_BUSY, SQLITE_FULL, ENOSPC), never a payload.
  const code = (err as { code?: string }).code ?? 'error';
  return { code: 'LOG_UNAVAILABLE', message: `the transparency log failed (${code})` };
}

const publishes = new Set<Promise<boolean>>();

/** Writes, syncs and removes a small file in the log's directory (one name per process). */
function probeDisk(dir: string): void {
  const file = path.join(dir, `.readiness-probe-${process.pid}`);
  try {
    // Never through a link someone put at the name (an admin command may run as root here).
    const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW, 0o600);
    try {
      fs.writeSync(fd, randomBytes(64));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } finally {
    fs.rmSync(file, { force: true });
  }
}

/** Requests run in arrival order; a publish awaits its file writes, and appends go on meanwhile. */
async function handle(seq: Sequencer, req: SequencerRequest): Promise<unknown> {
  switch (req.op) {
    case 'append': {
      const result: AppendResult = seq.append(unpackBatch(req.batch));
      return result;
    }
    case 'head': {
      const size = seq.size();
      const published = seq.published();
      const head: HeadState = {
        size,
        root: size > 0 ? rootHash(seq, size) : new Uint8Array(),
        publishedSize: published?.size ?? 0,
        publishedNote: published?.note ?? null,
      };
      return head;
    }
    case 'publish': {
      const publishing = publishCheckpoint(data.dir, seq, req.size, req.note);
      publishes.add(publishing);
      try {
        await publishing;
      } finally {
        publishes.delete(publishing);
      }
      return seq.published();
    }
    case 'probe':
      // Readiness, within a probe's own deadline: a durable write under the write lock, and a new
      // synced file (tiles and checkpoints are new files), so a full or failing disk is seen before
      // a request meets it.
      seq.probeWrite(req.lockWaitMs);
      probeDisk(data.dir);
      return null;
    case 'close':
      // A publish whose caller gave up may still be writing; the database stays open for it.
      await Promise.allSettled([...publishes]);
      seq.close();
      return null;
    default:
      throw new Error(`unknown request ${JSON.stringify(req)}`);
  }
}

let seq: Sequencer;
try {
  seq = openSequencer(data.dir, { origin: data.origin, lockWaitMsMax: data.lockWaitMsMax });
  reconcile(data.dir, seq);
  // Which file was reconciled: the daemon thread's own connection for lone appends must use no other.
  const { dev, ino } = fs.statSync(path.join(data.dir, SEQUENCER_FILE));
  port.postMessage({ ready: true, size: seq.size(), file: { dev, ino } } satisfies SequencerReady);
} catch (err) {
  port.postMessage({ ready: false, ...failure(err) } satisfies SequencerReady);
  process.exit(0);
}

port.on('message', (req: SequencerRequest) => {
  handle(seq, req).then(
    (result) => port.postMessage({ id: req.id, ok: true, result } satisfies SequencerReply),
    (err: unknown) => port.postMessage({ id: req.id, ok: false, ...failure(err) } satisfies SequencerReply),
  );
});
