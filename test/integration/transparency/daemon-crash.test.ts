// Sign daemons sharing a transparency log, under load: SIGKILL in a loop (the log reopens, audit
// passes, every signature a client received is in it, every pair of checkpoints seen is consistent)
// and several daemons appending at once (no entry lost or given twice).
import t from 'tap';
import path from 'node:path';
import { startDaemon, runSignerd, type RunningDaemon } from '../../helpers/daemon.js';
import { request } from '../../helpers/line-client.js';
import { makeKeys, signaturesOf } from '../../helpers/signature-fixtures.js';
import { auditLog } from '../../../lib/transparency/log-audit.js';
import { decodeLogEntry } from '../../../lib/transparency/log-entry.js';
import { parseVerifierKey } from '../../../lib/transparency/note-key.js';
import { verifyCheckpoint } from '../../../lib/transparency/checkpoint.js';
import { openPublishedTree } from '../../../lib/transparency/tile-reader.js';
import { checkPairwiseConsistent, makeKey, openLog, watchCheckpoints } from './fixtures.js';
import { sleep, waitFor } from '../../helpers/polling.js';

const ROUNDS = 3;
const CLIENTS = 6;

function signDaemon(keyFile: string, logDir: string, logKey: string, state: string): Promise<RunningDaemon> {
  return startDaemon(['sign-ecdsa', '--key', keyFile, '--port', '0', '--state-dir', state, '--transparency-log', logDir, '--transparency-log-key', logKey], {
    dropLogsAfterStart: true,
  });
}

/** CLIENTS loops of one request per connection until stopped; every signature received is kept. */
function load(port: number, tag: string, received: string[]): { stop(): Promise<void>; sent(): number } {
  let running = true;
  let sent = 0;
  const loops = Array.from({ length: CLIENTS }, async (_, c) => {
    for (let i = 0; running; i++) {
      sent++;
      try {
        received.push(...signaturesOf(await request(port, `${tag} client ${c} request ${i}`)));
      } catch {
        // The daemon was killed under this request: nothing was received.
        await sleep(5);
      }
    }
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
    },
    sent: () => sent,
  };
}

/** The published log's sign entries' signatures, and its audit against the verifier key. */
function published(logDir: string, size: number): string[] {
  const tree = openPublishedTree(logDir, size);
  return Array.from({ length: size }, (_, i) => decodeLogEntry(tree.entry(i))!)
    .filter((e) => e['kind'] === 'sign')
    .map((e) => e['signature'] as string);
}

t.test('SIGKILL of a sign daemon under load, again and again', async (t) => {
  const dir = t.testdir();
  const logDir = path.join(dir, 'log');
  const { keyFile: logKey, vkey } = await makeKey(dir);
  const keys = makeKeys(dir, 'ecdsa');

  const { seen, stop: stopWatching } = watchCheckpoints(t, logDir);

  const received: string[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const daemon = await signDaemon(keys.privateKeyFile, logDir, logKey, path.join(dir, 'state'));
    const before = received.length;
    const client = load(daemon.port, `round ${round}`, received);
    // Killed at a random point under load: mid-batch, mid-commit or mid-publish.
    const target = before + 20 + Math.floor(Math.random() * 100);
    await waitFor(() => received.length >= target, 20_000, `${target} signatures`);
    t.equal(await daemon.stop('SIGKILL'), null, `round ${round}: killed after ${received.length - before} signatures`);
    await client.stop();
  }
  stopWatching();

  // Reopening reconciles and publishes a checkpoint over everything that was made durable.
  const checkpoint = await runSignerd(['log', 'checkpoint', '--transparency-log', logDir, '--transparency-log-key', logKey]);
  t.equal(checkpoint.code, 0, `the log reopens: ${checkpoint.stderr}`);
  seen.add(checkpoint.stdout);
  const key = parseVerifierKey(vkey);
  const final = verifyCheckpoint(checkpoint.stdout, key);
  if (!final.ok) throw new Error(final.reason);
  t.same(auditLog(logDir, key).problems, [], 'audit passes');
  const audit = await runSignerd(['log', 'audit', logDir, '--log-key', vkey]);
  t.equal(audit.code, 0, `signerd log audit passes: ${audit.stdout}${audit.stderr}`);

  const logged = new Set(published(logDir, final.checkpoint.size));
  t.same(
    received.filter((s) => !logged.has(s)),
    [],
    `every one of the ${received.length} signatures received is in the log (${logged.size} sign entries)`,
  );

  const { checkpoints, pairs } = checkPairwiseConsistent(t, seen, key, openPublishedTree(logDir, final.checkpoint.size));
  t.ok(checkpoints.length >= ROUNDS, `${checkpoints.length} checkpoints seen, ${pairs} pairs consistent: the log never shrank or forked`);
});

t.test('three sign daemons appending to one log at once', async (t) => {
  const dir = t.testdir();
  const logDir = path.join(dir, 'log');
  const { keyFile: logKey, vkey } = await makeKey(dir);
  const keys = makeKeys(dir, 'ecdsa');
  // Each its own validity store; the log is the one thing they share.
  // Each is stopped at the end whatever happens, even when another failed to start (Promise.all rejects at once).
  const daemons = await Promise.all(
    [0, 1, 2].map(async (i) => {
      const daemon = await signDaemon(keys.privateKeyFile, logDir, logKey, path.join(dir, `state-${i}`));
      t.teardown(() => daemon.stop('SIGKILL'));
      return daemon;
    }),
  );
  const received: string[] = [];
  const clients = daemons.map((d, i) => load(d.port, `daemon ${i}`, received));
  await waitFor(() => received.length >= 300, 20_000, '300 signatures');
  await Promise.all(clients.map((c) => c.stop()));
  // A clean stop commits what is pending and publishes a last checkpoint.
  t.same(await Promise.all(daemons.map((d) => d.stop())), [0, 0, 0], 'the daemons stop cleanly');

  const log = await openLog(logDir, logKey);
  const final = (await log.publish())!;
  await log.close();
  const signs = published(logDir, final.size);
  t.equal(final.size, signs.length + 3, 'three key-loaded entries and the sign entries, nothing else');
  t.equal(new Set(signs).size, signs.length, 'no signature logged twice');
  t.same([...signs].sort(), [...received].sort(), `the ${received.length} signatures received, each exactly once`);
  t.same(auditLog(logDir, parseVerifierKey(vkey)).problems, [], 'audit passes');
});
