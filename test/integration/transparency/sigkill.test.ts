// SIGKILL of appending processes in a loop under load: the log reopens, audit passes, every entry
// a process acknowledged is in the log at its index, and every pair of checkpoints ever seen is
// consistent (the log never shrank or forked), also by the Go verifier.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { needGo } from '../../helpers/go-tools.js';
import { auditLog } from '../../../lib/transparency/log-audit.js';
import { decodeLogEntry } from '../../../lib/transparency/log-entry.js';
import { parseVerifierKey } from '../../../lib/transparency/note-key.js';
import { openPublishedTree } from '../../../lib/transparency/tile-reader.js';
import { consistencyProof, rootHash } from '../../../lib/transparency/merkle-tree.js';
import { formatConsistencyProof } from '../../../lib/transparency/proof-text.js';
import { checkPairwiseConsistent, makeKey, openLog, runGo, spawnAppender, watchCheckpoints, type Ack } from './fixtures.js';
import { waitFor } from '../../helpers/polling.js';

const ROUNDS = 3;

t.test('SIGKILL under load, again and again', async (t) => {
  const dir = t.testdir();
  const logDir = path.join(dir, 'log');
  const { keyFile, vkey } = await makeKey(dir);
  const key = parseVerifierKey(vkey);

  // Every checkpoint anyone could have fetched: the file, polled while the processes run.
  const { seen, stop: stopWatching } = watchCheckpoints(t, logDir);

  const acks: Ack[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const pair = [spawnAppender(logDir, keyFile, `r${round}a`, 0, 8), spawnAppender(logDir, keyFile, `r${round}b`, 0, 8)];
    await Promise.all(pair.map((a) => a.opened));
    // Kill one at a random point under load, then the other a little later: mid-batch, mid-commit
    // or mid-publish, wherever they happen to be.
    const first = 30 + Math.floor(Math.random() * 120);
    await waitFor(() => pair[0]!.acks.length >= first, 30_000, `${first} acks`);
    pair[0]!.proc.kill('SIGKILL');
    const later = pair[1]!.acks.length + 20 + Math.floor(Math.random() * 80);
    await waitFor(() => pair[1]!.acks.length >= later, 30_000, `${later} acks`);
    pair[1]!.proc.kill('SIGKILL');
    t.same(await Promise.all(pair.map((a) => a.exited)), [null, null], `round ${round}: both killed`);
    for (const a of pair) acks.push(...a.acks);
  }
  stopWatching();

  // Reopening reconciles and publishes a checkpoint over everything that was made durable.
  const log = await openLog(logDir, keyFile);
  const final = (await log.publish())!;
  await log.close();
  seen.add(final.note);

  const indexes = acks.map((a) => a.index);
  t.equal(new Set(indexes).size, indexes.length, `${acks.length} acknowledged entries, no index twice`);
  const tree = openPublishedTree(logDir, final.size);
  t.ok(final.size >= acks.length, `the log holds at least every acknowledged entry (${final.size} ≥ ${acks.length})`);
  const missing = acks.filter((a) => a.index >= final.size || decodeLogEntry(tree.entry(a.index))?.['signature'] !== a.signature);
  t.same(missing, [], 'every acknowledged entry is in the log at its index');
  t.same(auditLog(logDir, key).problems, [], 'audit passes');

  const { checkpoints, pairs } = checkPairwiseConsistent(t, seen, key, tree);
  t.ok(checkpoints.length >= ROUNDS, `${checkpoints.length} checkpoints seen, ${pairs} pairs consistent`);

  t.test('the Go verifier agrees', needGo(), async (t) => {
    t.equal(runGo('tiles', vkey, logDir).code, 0, 'tiles and entries of the reopened log');
    const first = checkpoints[0]!;
    const last = checkpoints[checkpoints.length - 1]!;
    const files = [first, last].map((c, i) => {
      const file = path.join(dir, `seen-${i}`);
      fs.writeFileSync(
        file,
        [...seen].find((n) => n.includes(`\n${c.size}\n${c.root.toString('base64')}\n`))!,
      );
      return file;
    });
    fs.writeFileSync(
      path.join(dir, 'proof'),
      formatConsistencyProof({
        oldSize: first.size,
        newSize: last.size,
        oldRoot: rootHash(tree, first.size),
        newRoot: last.root,
        proof: consistencyProof(tree, first.size, last.size),
      }),
    );
    const go = runGo('consistency', vkey, files[0]!, files[1]!, path.join(dir, 'proof'));
    t.equal(go.code, 0, `first and last checkpoint seen: ${go.out}`);
  });
});
