// hmac's request log: successful MACs as one "requests" record a second (count, mean and max ms),
// every error still one "request" record; --request-log each gives one record per request again.
import path from 'node:path';
import t from 'tap';
import { exchange } from '../../helpers/line-client.js';
import { singleDir } from '../../unit/hmac/secret-fixtures.js';
import { startHmac, waitForLog } from './hmac-fixtures.js';

const base = t.testdir();

t.test('summary mode is the default: successes together, errors each', async (t) => {
  const daemon = await startHmac(['--secret-dir', singleDir(path.join(base, 'summary')), '--keep-open']);
  t.teardown(() => daemon.stop());
  const from = daemon.logs.length;
  const replies = await exchange(daemon.ports[0]!, [...Array.from({ length: 20 }, (_, i) => `message ${i}`), 'x'.repeat(70_000)]);
  t.equal(replies.filter((r) => /^[0-9a-f]{64}/.test(r)).length, 20, 'twenty tags');
  const summary = await waitForLog(daemon, 'requests', from, 3_000);
  t.equal(summary['requests'], 20, 'one record counts the twenty');
  t.equal(summary['outcome'], 'ok');
  t.type(summary['msMax'], 'number');
  const each = daemon.logs.slice(from).filter((l) => l['msg'] === 'request');
  t.equal(each.length, 1, 'the one error is its own record');
  t.equal(each[0]?.['outcome'], 'LINE_TOO_LONG');
});

t.test('--request-log each: one record per request', async (t) => {
  const daemon = await startHmac(['--secret-dir', singleDir(path.join(base, 'each')), '--keep-open', '--request-log', 'each']);
  t.teardown(() => daemon.stop());
  const from = daemon.logs.length;
  await exchange(daemon.ports[0]!, ['a', 'b', 'c']);
  // The records reach us after the replies, each when it is written: wait for the third, not a fixed time.
  const oks = (): number => daemon.logs.slice(from).filter((l) => l['msg'] === 'request' && l['outcome'] === 'ok').length;
  for (let i = 0; i < 250 && oks() < 3; i++) await new Promise((r) => setTimeout(r, 20));
  t.equal(oks(), 3);
});
