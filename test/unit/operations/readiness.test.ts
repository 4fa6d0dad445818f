// Readiness's probe trigger: a part whose backend signals a change (a Redis connection closed or
// ready again) is probed at once instead of at its next interval, and a change signalled while a
// probe runs gets a probe of its own after it; a probe that does not answer is reported with its part's code.
import pino from 'pino';
import t, { type Test } from 'tap';
import { DaemonError } from '../../../lib/errors.js';
import { createProbeTrigger, createReadiness, type ProbeTrigger, type Readiness } from '../../../lib/operations/readiness.js';
import { until } from '../../helpers/polling.js';

const HOUR_MS = 3_600_000;

/** Readiness changes within a few event-loop turns: polled every 5 ms, for 2 s unless told. */
const soon = (cond: () => boolean, msMax = 2_000): Promise<boolean> => until(cond, msMax, 5);

/**
 * A serving daemon's readiness with one store part, probed hourly unless its trigger fires. `connected`
 * says, for the n-th probe (from 1), whether the store was reachable when that probe looked.
 */
function storeReadiness(t: Test, connected: (probe: number) => Promise<boolean>): { readiness: Readiness; changes: ProbeTrigger; probes: () => number } {
  const readiness = createReadiness(pino({ level: 'silent' }));
  t.teardown(() => readiness.stop());
  let probes = 0;
  const changes = createProbeTrigger();
  readiness.add({
    name: 'store',
    intervalMs: HOUR_MS,
    changes,
    async probe() {
      if (!(await connected(++probes))) throw new DaemonError('STORE_UNAVAILABLE', 'connection closed');
    },
  });
  readiness.serving();
  return { readiness, changes, probes: () => probes };
}

t.test('a signalled change is probed at once, not at the next interval', async (t) => {
  let up = true;
  const { readiness, changes, probes } = storeReadiness(t, async () => up);
  t.ok(await soon(() => readiness.report().ready), 'ready after the first probe');

  up = false;
  changes.fire();
  t.ok(await soon(() => !readiness.report().ready), 'unready at once after the change');
  t.match(readiness.report().parts[0]?.reason, /^STORE_UNAVAILABLE: connection closed/);

  up = true;
  changes.fire();
  t.ok(await soon(() => readiness.report().ready), 'ready again at once');
  t.equal(probes(), 3, 'one probe per change, none from the hour-long interval');
});

t.test('a change while a probe runs is probed again after it', async (t) => {
  let up = false;
  let release: (() => void) | null = null;
  const { readiness, changes, probes } = storeReadiness(t, async (probe) => {
    const sawUp = up;
    // The first probe is held until the test lets it go, so the change below lands during it.
    if (probe === 1) await new Promise<void>((resolve) => (release = resolve));
    return sawUp;
  });
  t.ok(await soon(() => release !== null), 'first probe running');
  up = true;
  changes.fire();
  release!();
  // The first probe looked before the connection came back; without a second probe the part would
  // stay unready for an hour.
  t.ok(await soon(() => readiness.report().ready), 'ready after the queued probe');
  t.equal(probes(), 2);
});

t.test('a trigger fired before its part is added does nothing', async (t) => {
  const changes = createProbeTrigger();
  t.doesNotThrow(() => changes.fire());
});

t.test("a probe that does not answer is reported with its part's own code", async (t) => {
  const readiness = createReadiness(pino({ level: 'silent' }));
  t.teardown(() => readiness.stop());
  const never = (): Promise<void> => new Promise(() => undefined);
  readiness.add({ name: 'store', intervalMs: HOUR_MS, timeoutCode: 'STORE_UNAVAILABLE', probe: never });
  readiness.add({ name: 'key k', intervalMs: HOUR_MS, probe: never });
  readiness.serving();
  const reasons = (): Record<string, string | null> => Object.fromEntries(readiness.report().parts.map((p) => [p.name, p.reason]));
  t.ok(await soon(() => Object.values(reasons()).every((r) => r !== null && r !== 'not probed yet'), 5_000), 'both probes gave up');
  t.match(reasons(), { store: /^STORE_UNAVAILABLE: no answer within/, 'key k': /^BACKEND_TIMEOUT: no answer within/ }, 'a store is not named a key backend');
});

t.test("stop: no probe starts after it, and settled() waits for the one under way (it may touch the daemon's files)", async (t) => {
  const readiness = createReadiness(pino({ level: 'silent' }));
  let started = 0;
  let finished = 0;
  readiness.add({
    name: 'slow',
    intervalMs: 10,
    probe: async () => {
      started++;
      await new Promise((resolve) => setTimeout(resolve, 200));
      finished++;
    },
  });
  readiness.serving();
  readiness.stop();
  await readiness.settled();
  t.equal(finished, started, 'the probe under way had finished');
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.equal(started, 1, 'and none started after the stop');
});
