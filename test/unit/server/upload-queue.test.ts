// The HTTP upload admission queue in-process: places, upload room and job slots given first
// come first served, each wait bounded, everything given back on leave, waiters refused on close.
import t from 'tap';
import { createUploadQueue, type Admission } from '../../../lib/server/upload-queue.js';
import { codeOf } from '../../helpers/error-codes.js';
import { sleep } from '../../helpers/polling.js';

/** Settles to 'ok' or the error code, without waiting for a pending promise. */
function outcome(p: Promise<void>): { value: () => string | null } {
  let value: string | null = null;
  p.then(
    () => (value = 'ok'),
    (err: { code?: string }) => (value = err.code ?? 'error'),
  );
  return { value: () => value };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

t.test('places: jobsMax + queueMax requests, then BUSY; a place is given back on leave', async (t) => {
  const queue = createUploadQueue({ jobsMax: 1, queueMax: 1, queueBytesMax: 100, queueMsMax: 1000 });
  const a = queue.admit();
  const b = queue.admit();
  t.equal(
    codeOf(() => queue.admit()),
    'BUSY',
  );
  a.leave();
  a.leave();
  const c = queue.admit();
  t.equal(
    codeOf(() => queue.admit()),
    'BUSY',
    'leaving twice gives back one place',
  );
  b.leave();
  c.leave();
});

t.test('upload room: first come first served; a large upload is not overtaken by small ones', async (t) => {
  const queue = createUploadQueue({ jobsMax: 4, queueMax: 4, queueBytesMax: 100, queueMsMax: 10_000 });
  const holder = queue.admit();
  await holder.reserveBytes(60);
  const big = queue.admit();
  const bigWait = outcome(big.reserveBytes(80));
  const small = queue.admit();
  const smallWait = outcome(small.reserveBytes(10));
  await tick();
  t.equal(bigWait.value(), null, 'the large upload waits');
  t.equal(smallWait.value(), null, 'the small one, behind it, waits too although it would fit');
  holder.leave();
  await tick();
  t.equal(bigWait.value(), 'ok');
  t.equal(smallWait.value(), 'ok', '80 + 10 fit once the holder left');
  big.leave();
  small.leave();
  queue.close();
});

t.test('an upload larger than the whole budget is refused at once', async (t) => {
  const queue = createUploadQueue({ jobsMax: 1, queueMax: 1, queueBytesMax: 100, queueMsMax: 10_000 });
  const a = queue.admit();
  t.equal(
    await a.reserveBytes(101).then(
      () => 'ok',
      (err: { code: string }) => err.code,
    ),
    'PAYLOAD_TOO_LARGE',
  );
  a.leave();
});

t.test('job slots: at most jobsMax; the next waits and gets the slot given back', async (t) => {
  const queue = createUploadQueue({ jobsMax: 1, queueMax: 2, queueBytesMax: 100, queueMsMax: 10_000 });
  const [a, b] = [queue.admit(), queue.admit()] as [Admission, Admission];
  await a.startJob();
  const bWait = outcome(b.startJob());
  await tick();
  t.equal(bWait.value(), null);
  a.leave();
  await tick();
  t.equal(bWait.value(), 'ok');
  t.ok(b.waitedMs() >= 0);
  b.leave();
});

t.test('the wait is bounded in all: BUSY once queueMsMax is used up, and the next in line moves up', async (t) => {
  const queue = createUploadQueue({ jobsMax: 1, queueMax: 3, queueBytesMax: 100, queueMsMax: 150 });
  const holder = queue.admit();
  await holder.reserveBytes(100);
  await holder.startJob();
  const late = queue.admit();
  const started = Date.now();
  t.equal(
    await late.reserveBytes(50).then(
      () => 'ok',
      (err: { code: string }) => err.code,
    ),
    'BUSY',
  );
  t.ok(Date.now() - started >= 140, 'after about queueMsMax');
  late.leave();
  holder.leave();
});

t.test('waiting for room and then for a slot share one budget', async (t) => {
  const queue = createUploadQueue({ jobsMax: 1, queueMax: 3, queueBytesMax: 100, queueMsMax: 300 });
  const roomHolder = queue.admit();
  await roomHolder.reserveBytes(100);
  const slotHolder = queue.admit();
  await slotHolder.startJob();
  const b = queue.admit();
  const room = b.reserveBytes(10);
  // Most of the budget goes on the room, so the wait for a slot below has little left (at most
  // 50 ms) against its 250 ms bound: the margin is for a loaded machine. This timer fires before
  // the room's 300 ms one however late both are, and the room is given at once when it does.
  await sleep(250);
  roomHolder.leave();
  await room;
  t.ok(b.waitedMs() >= 140, `waited ${b.waitedMs()} ms for room`);
  const t0 = Date.now();
  t.equal(
    await b.startJob().then(
      () => 'ok',
      (err: { code: string }) => err.code,
    ),
    'BUSY',
  );
  t.ok(Date.now() - t0 < 250, `then only the rest of the budget for a slot (${Date.now() - t0} ms)`);
  b.leave();
  slotHolder.leave();
});

t.test('close: waiters get SHUTTING_DOWN, nobody else gets in', async (t) => {
  const queue = createUploadQueue({ jobsMax: 1, queueMax: 2, queueBytesMax: 100, queueMsMax: 10_000 });
  const a = queue.admit();
  await a.startJob();
  const b = queue.admit();
  const bWait = outcome(b.startJob());
  queue.close();
  await tick();
  t.equal(bWait.value(), 'SHUTTING_DOWN');
  t.equal(
    codeOf(() => queue.admit()),
    'SHUTTING_DOWN',
  );
  a.leave();
  b.leave();
});
