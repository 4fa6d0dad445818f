// hmac's request log: successful MACs as one "requests" record a second (count, mean and max ms),
// every error still one "request" record; --request-log each gives one record per request again.
import path from 'node:path';
import t from 'tap';
import { exchange } from '../../helpers/line-client.js';
import { singleDir } from '../../unit/hmac/secret-fixtures.js';
import { startHmac, waitForLog } from './hmac-fixtures.js';
import { until } from '../../helpers/polling.js';

const base = t.testdir();

t.test('summary mode is the default: successes together, errors each', async (t) => {
  const daemon = await startHmac(['--secret-dir', singleDir(path.join(base, 'summary')), '--keep-open']);
  t.teardown(() => daemon.stop());
  const from = daemon.logs.length;
  const replies = await exchange(daemon.ports[0]!, [...Array.from({ length: 20 }, (_, i) => `message ${i}`), 'x'.repeat(70_000)]);
  t.equal(replies.filter((r) => /^[0-9a-f]{64}/.test(r)).length, 20, 'twenty tags');
  // The summary goes out on a one-second timer, so on a loaded machine the twenty can straddle one
  // tick: then two records count them, never twenty.
  await waitForLog(daemon, 'requests', from, 3_000);
  const summaries = (): Array<Record<string, unknown>> => daemon.logs.slice(from).filter((l) => l['msg'] === 'requests');
  const counted = (): number => summaries().reduce((sum, l) => sum + Number(l['requests']), 0);
  await until(() => counted() >= 20, 3_000);
  t.equal(counted(), 20, 'the summary records count the twenty');
  t.ok(summaries().length <= 2, `in one record, or two across a tick (${summaries().length})`);
  for (const summary of summaries()) {
    t.equal(summary['outcome'], 'ok');
    t.equal(summary['port'], daemon.ports[0], 'names its listener');
    t.type(summary['msMax'], 'number');
  }
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
  await until(() => oks() >= 3, 5_000);
  t.equal(oks(), 3);
});
