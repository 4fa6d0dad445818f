// The log writer's thread: it owns the sequencer database, so that waiting for another process's
// commit and for fsync never blocks a daemon's event loop. It handles one request at a time, in
// the order they arrive; the daemon thread batches appends while a commit is in progress.
import { parentPort, workerData } from 'node:worker_threads';
import { isDaemonError, type ErrorCode } from '../errors.js';
import { rootHash } from './merkle-tree.js';
import { openSequencer, type AppendResult, type Sequencer } from './sequencer-db.js';
import { publishCheckpoint, reconcile } from './tile-publisher.js';
import { unpackBatch, type HeadState, type SequencerReady, type SequencerReply, type SequencerRequest, type SequencerWorkerData } from './sequencer-messages.js';

const data = workerData as SequencerWorkerData;
const port = parentPort!;

function failure(err: unknown): { code: ErrorCode; message: string } {
  if (isDaemonError(err)) return { code: err.code, message: err.message };
  // SQLite and file errors: the code names the cause (SQLITE_BUSY, SQLITE_FULL, ENOSPC), never a payload.
  const code = (err as { code?: string }).code ?? 'error';
  return { code: 'LOG_UNAVAILABLE', message: `the transparency log failed (${code})` };
}

function handle(seq: Sequencer, req: SequencerRequest): unknown {
  switch (req.op) {
    case 'append': {
      const result: AppendResult = seq.append(unpackBatch(req.batch));
      return result;
    }
    case 'head': {
      const size = seq.size();
      const published = seq.published();
      const head: HeadState = { size, root: size > 0 ? rootHash(seq, size) : new Uint8Array(), publishedSize: published?.size ?? 0, publishedNote: published?.note ?? null };
      return head;
    }
    case 'publish':
      publishCheckpoint(data.dir, seq, req.size, req.note);
      return seq.published();
    case 'close':
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
  port.postMessage({ ready: true, size: seq.size() } satisfies SequencerReady);
} catch (err) {
  port.postMessage({ ready: false, ...failure(err) } satisfies SequencerReady);
  process.exit(0);
}

port.on('message', (req: SequencerRequest) => {
  let reply: SequencerReply;
  try {
    reply = { id: req.id, ok: true, result: handle(seq, req) };
  } catch (err) {
    reply = { id: req.id, ok: false, ...failure(err) };
  }
  port.postMessage(reply);
});
