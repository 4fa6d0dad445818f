// sign-ecdsa with --transparency-log: what it returns is in the log, and `signerd log bundle` +
// `signerd log verify` + the Go verifier accept it; a log that does not answer withholds the
// signature (LOG_UNAVAILABLE) and service resumes by itself; revoke and reinstate record what they change.
import t, { type Test } from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { runSignerd, startDaemon } from '../../helpers/daemon.js';
import { request } from '../../helpers/line-client.js';
import { makeKeys, signaturesOf } from '../../helpers/signature-fixtures.js';
import { SEQUENCER_FILE } from '../../../lib/transparency/sequencer-db.js';
import { checkBundle, holdWriteLock, makeKey, publishedEntries as entries } from './fixtures.js';
import { sleep, until, waitFor } from '../../helpers/polling.js';
import { get, metricsPortOf, promtoolCheck, sample } from '../../helpers/operations.js';
import { needTools } from '../../helpers/tools.js';

/** A sign-ecdsa daemon on a new log in `dir` (its state in dir/state, metrics on a free port), killed at teardown. */
async function startLoggedSigner(t: Test, dir: string) {
  const logDir = path.join(dir, 'log');
  const { keyFile, vkey } = await makeKey(dir);
  const keys = makeKeys(dir, 'ecdsa');
  const logArgs = ['--transparency-log', logDir, '--transparency-log-key', keyFile];
  const daemon = await startDaemon([
    'sign-ecdsa',
    '--key',
    keys.privateKeyFile,
    '--port',
    '0',
    '--state-dir',
    path.join(dir, 'state'),
    ...logArgs,
    '--metrics-port',
    '0',
  ]);
  t.teardown(() => daemon.stop('SIGKILL'));
  return { daemon, logDir, keyFile, vkey, keys, logArgs };
}

t.test('sign-ecdsa with the log: every signature returned is provably in it', async (t) => {
  const dir = t.testdir();
  const { daemon, logDir, keyFile, vkey, keys } = await startLoggedSigner(t, dir);

  const messages = ['first', 'second', 'x'.repeat(3000)];
  const replies = await Promise.all(messages.map((m) => request(daemon.port, m)));
  const signatures = replies.flatMap(signaturesOf);
  t.equal(signatures.length, 4, 'four signatures (the long line is two chunks)');

  // The second chunk of the long line: what a client holds is one signature, not the request.
  await checkBundle(t, dir, logDir, vkey, signatures[3]!);

  await waitFor(() => entries(logDir).length >= 5, 5_000, 'a checkpoint over every entry');
  const logged = entries(logDir);
  const [loaded] = logged;
  t.match(loaded, { kind: 'key-loaded', source: 'sign-ecdsa', backend: 'file', v: 1 }, 'the first entry names the key');
  const publicKey = crypto.createPublicKey(fs.readFileSync(keys.publicKeyFile)).export({ type: 'spki', format: 'der' }).toString('base64');
  t.equal(loaded!['publicKey'], publicKey, 'with its public key');
  const signs = logged.filter((e) => e['kind'] === 'sign');
  t.same(signs.map((e) => e['signature']).sort(), [...signatures].sort(), 'one sign entry per signature returned');
  const first = signs.find((e) => e['signature'] === signatures[0]);
  t.equal(first!['messageSha256'], crypto.createHash('sha256').update('first').digest('hex'), 'the SHA-256 of the signed bytes, not the bytes');
  t.notOk(JSON.stringify(logged).includes('second'), 'no signed content in the log');
  const namingEntries = (): number => daemon.logs.filter((l) => l['msg'] === 'request' && typeof l['logIndex'] === 'number').length;
  await until(() => namingEntries() >= 3, 2_000); // the last line may reach us after its reply
  t.equal(namingEntries(), 3, 'each request line names its entry');
  const metrics = (await get(metricsPortOf(daemon), '/metrics')).body;
  t.equal(await promtoolCheck(metrics), '', 'promtool check metrics passes with the log metrics');
  t.equal(sample(metrics, 'signerd_transparency_log_entries'), 5, 'metrics: the entries this daemon made (key-loaded and four signs)');
  t.equal(sample(metrics, 'signerd_transparency_log_checkpoint_entries'), 5, 'and the checkpoint covering them');
  t.equal(sample(metrics, 'signerd_transparency_log_publish_failures_total'), 0, 'no publish failed');

  t.test('a log that does not answer: LOG_UNAVAILABLE, nothing returned, and service resumes by itself', async (t) => {
    // Another process holding the log's write lock longer than an append may wait.
    const lock = holdWriteLock(t, logDir);
    const before = entries(logDir).length;
    const refused = await request(daemon.port, 'while the log is stuck');
    t.match(refused, /^ERR LOG_UNAVAILABLE /, 'refused with LOG_UNAVAILABLE');
    t.same(signaturesOf(refused), [], 'no signature in the reply');
    const metrics = metricsPortOf(daemon);
    await waitFor(async () => (await get(metrics, '/readyz')).status === 503, 10_000, 'not ready while the log cannot append');
    t.match(JSON.parse((await get(metrics, '/readyz')).body), { ready: false }, '/readyz: not ready while the log cannot append');
    lock.release();
    await waitFor(async () => (await get(metrics, '/readyz')).status === 200, 10_000, 'ready again');
    t.pass('and ready again by itself');
    const after = await request(daemon.port, 'after');
    t.equal(signaturesOf(after).length, 1, 'the next request is signed');
    await waitFor(() => entries(logDir).some((e) => e['signature'] === signaturesOf(after)[0]), 5_000, 'its entry under a checkpoint');
    t.ok(entries(logDir).length > before, 'and logged');
  });

  t.test('a log whose files refuse writes (as on a full disk): not ready, LOG_UNAVAILABLE, back by itself', needTools('chattr'), async (t) => {
    // The write-ahead log made immutable: every commit fails, while taking the lock alone still works
    // (the readiness probe once did only that, and stayed ready while every signature was refused).
    const wal = path.join(logDir, `${SEQUENCER_FILE}-wal`);
    execFileSync('chattr', ['+i', wal]);
    t.teardown(() => void spawnSync('chattr', ['-i', wal]));
    const refused = await request(daemon.port, 'while the disk refuses');
    t.match(refused, /^ERR LOG_UNAVAILABLE /, 'refused with LOG_UNAVAILABLE');
    const metrics = metricsPortOf(daemon);
    await waitFor(async () => (await get(metrics, '/readyz')).status === 503, 10_000, 'not ready while the log cannot be written');
    t.match(
      JSON.parse((await get(metrics, '/readyz')).body),
      { ready: false, notReady: { 'transparency log': /^LOG_UNAVAILABLE: / } },
      '/readyz names the log',
    );
    execFileSync('chattr', ['-i', wal]);
    await waitFor(async () => (await get(metrics, '/readyz')).status === 200, 10_000, 'ready again');
    t.equal(signaturesOf(await request(daemon.port, 'after the disk')).length, 1, 'and signing again, by itself');
  });

  t.test('revoke and reinstate record what they change', async (t) => {
    const common = ['--state-dir', path.join(dir, 'state'), '--transparency-log', logDir, '--transparency-log-key', keyFile];
    const signature = signatures[1]!;
    const revoke = await runSignerd(['revoke', signature, ...common]);
    t.equal(revoke.code, 0, `revoke: ${revoke.stderr}`);
    const reinstate = await runSignerd(['reinstate', signature, '--ttl', '60', ...common]);
    t.equal(reinstate.code, 0, `reinstate: ${reinstate.stderr}`);
    const again = await runSignerd(['reinstate', signature, ...common]);
    t.equal(again.code, 1, 'a second reinstate finds nothing revoked');
    const admin = entries(logDir).filter((e) => e['source'] === 'admin');
    t.match(admin, [
      { kind: 'revoke', signature },
      { kind: 'reinstate', signature, expiresMs: Number },
    ]);
    t.equal(admin.length, 2, 'nothing logged for what did not change');
    const bundle = await runSignerd(['log', 'bundle', signature, '--transparency-log', logDir]);
    t.match(bundle.stderr + bundle.stdout, /revoke/, 'the bundle notes the later revoke');
    const exported = JSON.parse((await runSignerd(['export', signature, '--state-dir', path.join(dir, 'state')])).stdout) as { expiresMs: number };
    t.equal(admin[1]!['expiresMs'], exported.expiresMs, 'the reinstate entry names the very expiry the store keeps');
  });

  t.test('a revoke never waits for the log; a reinstate always does', async (t) => {
    const common = ['--state-dir', path.join(dir, 'state'), '--transparency-log', logDir, '--transparency-log-key', keyFile];
    const signature = signatures[2]!;
    const lock = holdWriteLock(t, logDir);
    const revoke = await runSignerd(['revoke', signature, ...common]);
    t.equal(revoke.code, 69, 'the log cannot be written: exit 69');
    t.match(revoke.stdout, /^revoked /, 'but the revoke is done');
    t.match(revoke.stderr, /LOG_UNAVAILABLE/);
    t.equal((await runSignerd(['show', signature, '--state-dir', path.join(dir, 'state')])).stdout.split('\n')[0], 'status     revoked', 'show: revoked');
    const reinstate = await runSignerd(['reinstate', signature, ...common]);
    t.equal(reinstate.code, 69, 'reinstate with the log stuck: exit 69');
    t.equal((await runSignerd(['show', signature, '--state-dir', path.join(dir, 'state')])).stdout.split('\n')[0], 'status     revoked', 'and still revoked');
    lock.release();
    const again = await runSignerd(['revoke', signature, ...common]);
    t.equal(again.code, 1, 'revoking again: nothing left to revoke');
    t.ok(
      entries(logDir).some((e) => e['kind'] === 'revoke' && e['signature'] === signature),
      'but its entry is logged now',
    );
  });

  t.test('import: any number of records, logged and written batch by batch; a bad line writes nothing', async (t) => {
    const common = ['--state-dir', path.join(dir, 'import-state'), '--transparency-log', logDir, '--transparency-log-key', keyFile];
    const count = 8_500; // above the log's queue bound (8,192 appends waiting)
    const hex = (i: number) => i.toString(16).padStart(8, '0');
    const record = { message: '', keyId: '0123456789abcdef', algorithm: 'ecdsa-p384-sha384' };
    const line = (i: number) => JSON.stringify({ signature: hex(i), ...record });
    const lines = Array.from({ length: count }, (_, i) => line(i));
    const before = entries(logDir).length;
    for (const [bad, why] of [
      ['{"signature": ', /line 2: not JSON/],
      [JSON.stringify({ signature: 'ab', ...record, message: 'not base64!' }), /line 2: message is not base64/],
      [JSON.stringify({ signature: 'ab', ...record, createdMs: 'yesterday' }), /line 2: createdMs must be epoch milliseconds/],
      [JSON.stringify({ signature: 'ab', ...record, expiresMs: -5 }), /line 2: expiresMs must be/],
      // Past the last date JavaScript holds: show and export could not print it.
      [JSON.stringify({ signature: 'ab', ...record, expiresMs: 9007199254740991 }), /line 2: expiresMs must be epoch milliseconds \(a date show can print\)/],
      [JSON.stringify({ signature: 'ab', ...record, createdMs: 8640000000000001 }), /line 2: createdMs must be epoch milliseconds \(a date show can print\)/],
      [JSON.stringify({ signature: '', ...record }), /line 2: the signature is empty/],
      [JSON.stringify({ signature: 'ab', ...record, algorithm: 'foo' }), /line 2: algorithm must be rsa-pss-sha256 or ecdsa-p384-sha384/],
      [JSON.stringify({ signature: 'ab', ...record, keyId: 'zz' }), /line 2: keyId must be 16 lowercase hex digits/],
      [JSON.stringify({ signature: 'ab', ...record, revoked: 'yes' }), /line 2: revoked must be true or false/],
    ] as const) {
      const refused = await runSignerd(['import', '-', ...common], `${line(0)}\n${bad}\n`);
      t.equal(refused.code, 78, `${String(why)}: exit 78`);
      t.match(refused.stderr, why);
    }
    const imported = await runSignerd(['import', '-', ...common], lines.join('\n') + '\n');
    t.equal(imported.code, 0, `import: ${imported.stderr}`);
    t.equal(imported.stdout, `imported ${count}, already present 0, revoked (not restored) 0\n`);
    await waitFor(() => entries(logDir).length >= before + count, 10_000, 'every restore under a checkpoint');
    t.equal(entries(logDir).length - before, count, 'one reinstate entry per record, and none for the refused files');
    t.equal((await runSignerd(['show', hex(count - 1), '--state-dir', path.join(dir, 'import-state')])).code, 0, 'the last record is live');
  });
});

t.test('a log directory moved or removed under a running daemon: LOG_UNAVAILABLE, never a signature into a lost file or a fork', async (t) => {
  const dir = t.testdir();
  const { daemon, logDir, vkey, logArgs } = await startLoggedSigner(t, dir);
  const metrics = metricsPortOf(daemon);
  const [kept] = signaturesOf(await request(daemon.port, 'before'));
  await waitFor(() => entries(logDir).some((e) => e['signature'] === kept), 5_000, 'the first signature under a checkpoint');

  // Moved away and back (a rename keeps the files): refused meanwhile, then signing again by itself.
  fs.renameSync(logDir, `${logDir}.away`);
  t.match(
    await request(daemon.port, 'while away'),
    /^ERR LOG_UNAVAILABLE .*sequencer\.sqlite was removed while this process had it open/,
    'moved away: refused',
  );
  await waitFor(async () => (await get(metrics, '/readyz')).status === 503, 10_000, 'not ready while the log is away');
  await sleep(1_500); // a publish's turn: it must not make the directory again
  t.notOk(fs.existsSync(logDir), 'the log directory is not made again');
  fs.renameSync(`${logDir}.away`, logDir);
  await waitFor(async () => (await get(metrics, '/readyz')).status === 200, 10_000, 'ready again once it is back');
  const [back] = signaturesOf(await request(daemon.port, 'back'));
  t.ok(back, 'signing again');
  await waitFor(() => entries(logDir).some((e) => e['signature'] === back), 5_000, 'under a checkpoint');

  // Removed, and a new log started at the same path (an admin command): the daemon's tree is not
  // published over it, and nothing is signed into the unlinked file.
  fs.rmSync(logDir, { recursive: true });
  const revoke = await runSignerd(['revoke', kept!, '--state-dir', path.join(dir, 'state'), ...logArgs]);
  t.equal(revoke.code, 0, `the admin command starts a new log: ${revoke.stderr}`);
  const fresh = fs.readFileSync(path.join(logDir, 'checkpoint'), 'utf8');
  t.match(await request(daemon.port, 'after the new log'), /^ERR LOG_UNAVAILABLE .*sequencer\.sqlite was replaced/, 'refused');
  // Lone appends go through this thread's own connection, which is opened anew after a failure: it
  // must not open the new log, which the writer thread never reconciled with the daemon's checkpoint.
  for (const again of ['again', 'and again']) t.match(await request(daemon.port, again), /^ERR LOG_UNAVAILABLE /, `${again}: refused`);
  await sleep(1_500);
  t.equal(fs.readFileSync(path.join(logDir, 'checkpoint'), 'utf8'), fresh, 'the new log keeps its own checkpoint (no fork signed over it)');
  const audit = await runSignerd(['log', 'audit', logDir, '--log-key', vkey]);
  t.equal(audit.code, 0, `the new log audits clean: ${audit.stderr}`);
});

t.test('a log database restored from an older backup under a running daemon: no signature forks the published tree', async (t) => {
  const dir = t.testdir();
  const { daemon, logDir } = await startLoggedSigner(t, dir);
  const checkpointSize = (): number => {
    const file = path.join(logDir, 'checkpoint');
    return fs.existsSync(file) ? Number(fs.readFileSync(file, 'utf8').split('\n')[1]) : 0;
  };
  for (const m of ['a1', 'a2']) signaturesOf(await request(daemon.port, m));
  await waitFor(() => checkpointSize() >= 3, 5_000, 'a checkpoint over the first entries');
  const backup = path.join(dir, 'backup.sqlite');
  await new Database(path.join(logDir, 'sequencer.sqlite'), { readonly: true }).backup(backup);
  for (const m of ['a3', 'a4', 'a5']) signaturesOf(await request(daemon.port, m));
  await waitFor(() => checkpointSize() >= 6, 5_000, 'a checkpoint over the later ones');
  // The backup put back in place, as an operator's restore would.
  fs.copyFileSync(backup, path.join(logDir, 'restored'));
  fs.renameSync(path.join(logDir, 'restored'), path.join(logDir, 'sequencer.sqlite'));
  for (const f of ['sequencer.sqlite-wal', 'sequencer.sqlite-shm']) fs.rmSync(path.join(logDir, f), { force: true });
  for (const m of ['b1', 'b2', 'b3'])
    t.match(await request(daemon.port, m), /^ERR LOG_UNAVAILABLE /, `${m}: refused, never given an index the checkpoint already gave`);
});
