// Several processes appending to one log at once (as several daemons on one host will): every
// acknowledged entry is in the log at the index it was given, no index is given twice, nothing is
// lost, and the log that results audits clean (and passes the Go verifier).
import t from 'tap';
import path from 'node:path';
import { needGo } from '../../helpers/go-tools.js';
import { auditLog } from '../../../lib/transparency/log-audit.js';
import { decodeLogEntry } from '../../../lib/transparency/log-entry.js';
import { parseVerifierKey } from '../../../lib/transparency/note-key.js';
import { readCheckpointFile } from '../../../lib/transparency/tile-publisher.js';
import { openPublishedTree } from '../../../lib/transparency/tile-reader.js';
import { makeKey, runGo, spawnAppender } from './fixtures.js';

const PROCESSES = 3;
const PER_PROCESS = 250;

t.test(`${PROCESSES} processes appending at once`, async (t) => {
  const dir = t.testdir();
  const logDir = path.join(dir, 'log');
  const { keyFile, vkey } = await makeKey(dir);
  const appenders = Array.from({ length: PROCESSES }, (_, p) => spawnAppender(logDir, keyFile, `p${p}`, PER_PROCESS, 16));
  const codes = await Promise.all(appenders.map((a) => a.exited));
  t.same(
    codes,
    appenders.map(() => 0),
    `every process finished (${appenders.map((a) => a.stderr()).join('')})`,
  );

  const acks = appenders.flatMap((a) => a.acks);
  t.equal(acks.length, PROCESSES * PER_PROCESS, 'every append was acknowledged');
  const indexes = acks.map((a) => a.index).sort((a, b) => a - b);
  t.same(
    indexes,
    Array.from({ length: acks.length }, (_, i) => i),
    'the indexes are exactly 0..n-1: none lost, none given twice',
  );

  const published = readCheckpointFile(logDir)!;
  t.equal(published.checkpoint.size, acks.length, 'the last checkpoint covers every entry');
  const tree = openPublishedTree(logDir, published.checkpoint.size);
  const misplaced = acks.filter((a) => decodeLogEntry(tree.entry(a.index))?.['signature'] !== a.signature);
  t.same(misplaced, [], 'each acknowledged entry is at its index');
  t.same(auditLog(logDir, parseVerifierKey(vkey)).problems, [], 'audit passes');
  t.test('and the Go verifier accepts the shared log', needGo(), async (t) => {
    const go = runGo('tiles', vkey, logDir);
    t.equal(go.code, 0, go.out);
  });
});
