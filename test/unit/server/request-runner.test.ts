// The request runner: a handler that answers at once gives the connection its outcome at once (no
// promise turn between pipelined lines), with the gate's place already given back; a handler's
// promise, or a full gate, gives a promise. Every way records exactly one outcome.
import t from 'tap';
import pino from 'pino';
import { DaemonError } from '../../../lib/errors.js';
import { createGate } from '../../../lib/server/gate.js';
import { createRequestRunner, type LineService, type PendingRequest } from '../../../lib/server/request-runner.js';

const log = pino({ level: 'silent' });
const request = (line: string): PendingRequest => ({
  line: Buffer.from(line),
  conn: 1,
  req: 1,
  log,
  client: null,
  fresh: true,
  abandoned: () => false,
  cut: () => false,
});
const service: LineService = {
  handle(line) {
    const text = line.toString();
    if (text === 'bad') throw new DaemonError('BAD_REQUEST', 'bad line');
    if (text === 'later') return Promise.resolve('answered later');
    if (text === 'later-bad') return Promise.reject(new DaemonError('BACKEND_UNAVAILABLE', 'token gone'));
    return `answered ${text}`;
  },
  formatError: (err) => `ERR ${err.code}`,
};

function runner(gateMax = 4) {
  const gate = createGate(gateMax);
  const outcomes: string[] = [];
  const run = createRequestRunner({ gate, service, channel: null, recorder: { record: (outcome) => outcomes.push(outcome) }, summary: null });
  return { gate, outcomes, run };
}

t.test('an answer at once is an outcome at once, and the place in the gate is back', async (t) => {
  const { gate, outcomes, run } = runner();
  const ok = run(request('x'));
  t.notOk(ok instanceof Promise, 'not a promise');
  t.same(ok, { reply: 'answered x', closeAfter: false });
  const bad = run(request('bad'));
  t.notOk(bad instanceof Promise, 'a refusal thrown at once is at once too');
  t.same(bad, { reply: 'ERR BAD_REQUEST', closeAfter: false });
  t.equal(gate.inFlight, 0);
  t.same(outcomes, ['ok', 'BAD_REQUEST']);
});

t.test("a handler's promise is the outcome's promise; the place is held until it settles", async (t) => {
  const { gate, outcomes, run } = runner();
  const later = run(request('later'));
  t.ok(later instanceof Promise);
  t.equal(gate.inFlight, 1, 'held while the handler works');
  t.same(await later, { reply: 'answered later', closeAfter: false });
  t.same(await run(request('later-bad')), { reply: 'ERR BACKEND_UNAVAILABLE', closeAfter: false });
  t.equal(gate.inFlight, 0);
  t.same(outcomes, ['ok', 'BACKEND_UNAVAILABLE']);
});

t.test('a full gate: even an answer at once waits for a place, then comes as a promise', async (t) => {
  const { gate, outcomes, run } = runner(1);
  t.ok(gate.tryAcquire());
  const waiting = run(request('x'));
  t.ok(waiting instanceof Promise);
  t.same(outcomes, [], 'not run yet');
  gate.release();
  t.same(await waiting, { reply: 'answered x', closeAfter: false });
  t.equal(gate.inFlight, 0);
  t.same(outcomes, ['ok']);
});
