// A fault's stack is logged once a minute per code, so an outage (every request failing the same
// way) cannot flood the log with stacks; each record still has the message and its causes, and a
// bug (INTERNAL) always keeps its stack.
import t from 'tap';
import { Writable } from 'node:stream';
import { DaemonError } from '../../../lib/errors.js';
import { createLogger } from '../../../lib/log/logger.js';
import { logRequest } from '../../../lib/server/request-log.js';

function capture(): { log: ReturnType<typeof createLogger>; lines: Array<Record<string, Record<string, unknown>>> } {
  const lines: Array<Record<string, Record<string, unknown>>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { log: createLogger('test', 'info', sink), lines };
}

t.test('stacks of one fault code, once a minute', async (t) => {
  const { log, lines } = capture();
  const fail = (code: 'STORE_UNAVAILABLE' | 'BACKEND_UNAVAILABLE' | 'INTERNAL'): void => {
    const thrown = new DaemonError(code, 'redis write failed', { cause: new Error('connect ECONNREFUSED 127.0.0.1:6379') });
    logRequest(log, { conn: 1, req: 1 }, process.hrtime.bigint(), code, { code, thrown });
  };
  for (let i = 0; i < 3; i++) fail('STORE_UNAVAILABLE');
  fail('BACKEND_UNAVAILABLE');
  fail('INTERNAL');
  fail('INTERNAL');
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(lines.length, 6, 'one record per request');
  const stacks = lines.map((l) => typeof l['err']?.['stack'] === 'string');
  t.same(stacks, [true, false, false, true, true, true], 'the first of each fault code, and every INTERNAL');
  for (const line of lines) {
    t.match(line['err']?.['message'], /redis write failed: connect ECONNREFUSED/, 'the message and its cause in every record');
    t.equal(line['err']?.['code'], line['outcome']);
  }
  t.equal(lines[1]!['level'], 'warn');
});
