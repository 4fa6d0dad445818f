// The line server's sharing rules in isolation: the gate lets fresh requests ahead of bulk ones but
// never starves bulk; the turn budget bounds each turn's work and hands turns out round robin.
import t from 'tap';
import { createGate } from '../../../lib/server/gate.js';
import { createTurnBudget } from '../../../lib/server/turn-budget.js';

t.test('gate: fresh waiters go first, bulk still gets one place in four', async (t) => {
  const gate = createGate(1);
  t.ok(gate.tryAcquire());
  const order: string[] = [];
  const waits = [
    ...Array.from({ length: 4 }, (_, i) => gate.acquire(false).then(() => order.push(`bulk${i}`))),
    ...Array.from({ length: 6 }, (_, i) => gate.acquire(true).then(() => order.push(`fresh${i}`))),
  ];
  t.equal(gate.waiting, 10);
  for (let i = 0; i < 10; i++) {
    gate.release();
    await new Promise((resolve) => setImmediate(resolve));
  }
  await Promise.all(waits);
  t.same(order, ['fresh0', 'fresh1', 'fresh2', 'bulk0', 'fresh3', 'fresh4', 'fresh5', 'bulk1', 'bulk2', 'bulk3']);
  t.equal(gate.inFlight, 1, 'the last holder still holds its place');
  gate.release();
  t.equal(gate.inFlight, 0);
});

t.test('turn budget: at most N per turn, the rest resume in order in later turns', async (t) => {
  const budget = createTurnBudget(3);
  const ran: string[] = [];
  // Five connections each want two requests; each takes one place per resume, then defers again.
  const want = new Map(['a', 'b', 'c', 'd', 'e'].map((name) => [name, 2]));
  const resume = (name: string) => (): void => {
    if (!budget.take()) return budget.defer(resume(name));
    ran.push(name);
    const left = want.get(name)! - 1;
    want.set(name, left);
    if (left > 0) budget.defer(resume(name));
  };
  for (const name of want.keys()) budget.defer(resume(name));
  const turns: string[][] = [];
  for (let i = 0; i < 6 && [...want.values()].some((n) => n > 0); i++) {
    const before = ran.length;
    await new Promise((resolve) => setImmediate(resolve));
    turns.push(ran.slice(before));
  }
  t.ok(
    turns.every((turn) => turn.length <= 3),
    `no turn ran more than 3: ${JSON.stringify(turns)}`,
  );
  t.same(turns[0], ['a', 'b', 'c'], 'first turn: the first three');
  t.same(turns[1], ['d', 'e', 'a'], 'then round robin: those not reached go first');
  t.equal(ran.length, 10, 'everyone got all their requests');
  t.equal(budget.waiting, 0);
});
