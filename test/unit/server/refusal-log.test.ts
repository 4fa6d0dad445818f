// The refusal log: the first refusal at once, then one line a second per outcome with its count, so a
// burst of mixed refusals is neither a flood of lines nor counted under the wrong code.
import t from 'tap';
import { createRefusalLog } from '../../../lib/server/refusal-log.js';
import { memoryLog } from '../../helpers/memory-log.js';
import { sleep } from '../../helpers/polling.js';

t.test('one line at once, then one per outcome with its count', async (t) => {
  const { log, lines } = memoryLog('test');
  const refusals = createRefusalLog(log, 50);
  for (const outcome of ['UNAUTHENTICATED', 'UNAUTHENTICATED', 'FORBIDDEN', 'UNAUTHENTICATED', 'FORBIDDEN']) refusals.note(outcome);
  t.same(
    lines.map((l) => [l['msg'], l['outcome'], l['refused']]),
    [['connection refused', 'UNAUTHENTICATED', 1]],
    'the first at once',
  );
  await sleep(120);
  t.same(
    lines.slice(1).map((l) => [l['msg'], l['outcome'], l['refused']]),
    [
      ['connections refused', 'UNAUTHENTICATED', 2],
      ['connections refused', 'FORBIDDEN', 2],
    ],
    'then each outcome with its own count',
  );
});

t.test("a channel's refusals say who was refused: the first at once, the last of each count", async (t) => {
  const { log, lines } = memoryLog('test');
  const refusals = createRefusalLog(log, 50);
  refusals.note('FORBIDDEN', 'client alice may not use sign-ecdsa');
  refusals.note('FORBIDDEN', 'client bob may not use sign-ecdsa');
  refusals.note('BUSY');
  refusals.note('FORBIDDEN', 'client carol may not use sign-ecdsa');
  refusals.note('BUSY', 'client dave has its share of connections');
  t.match(lines[0], { outcome: 'FORBIDDEN', channel: true, refused: 1, reason: 'client alice may not use sign-ecdsa' });
  await sleep(120);
  t.same(
    lines.slice(1).map((l) => [l['outcome'], l['channel'], l['refused'], l['lastReason']]),
    [
      ['FORBIDDEN', true, 2, 'client carol may not use sign-ecdsa'],
      ['BUSY', undefined, 1, undefined],
      ['BUSY', true, 1, 'client dave has its share of connections'],
    ],
    'the outcome is a listed code; a channel refusal is counted apart, with who it was',
  );
});
