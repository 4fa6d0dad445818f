// sign-ecdsa with --transparency-log: what it returns is in the log, and `signerd log bundle` +
// `signerd log verify` + the Go verifier accept it; a log that does not answer withholds the
// signature (LOG_UNAVAILABLE) and service resumes by itself; revoke and reinstate record what they change.
import t from 'tap';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { runSignerd, startDaemon } from '../../helpers/daemon.js';
import { request } from '../../helpers/line-client.js';
import { makeKeys, signaturesOf } from '../../helpers/signature-fixtures.js';
import { SEQUENCER_FILE } from '../../../lib/transparency/sequencer-db.js';
import { checkBundle, makeKey, publishedEntries as entries, until } from './fixtures.js';
import { get, metricsPortOf } from '../../helpers/operations.js';

t.test('sign-ecdsa with the log: every signature returned is provably in it', async (t) => {
  const dir = t.testdir();
  const logDir = path.join(dir, 'log');
  const { keyFile, vkey } = await makeKey(dir);
  const keys = makeKeys(dir, 'ecdsa');
  const daemon = await startDaemon([
    'sign-ecdsa',
    '--key',
    keys.privateKeyFile,
    '--port',
    '0',
    '--state-dir',
    path.join(dir, 'state'),
    '--transparency-log',
    logDir,
    '--transparency-log-key',
    keyFile,
    '--metrics-port',
    '0',
  ]);
  t.teardown(() => daemon.stop('SIGKILL'));

  const messages = ['first', 'second', 'x'.repeat(3000)];
  const replies = await Promise.all(messages.map((m) => request(daemon.port, m)));
  const signatures = replies.flatMap(signaturesOf);
  t.equal(signatures.length, 4, 'four signatures (the long line is two chunks)');

  // The second chunk of the long line: what a client holds is one signature, not the request.
  await checkBundle(t, dir, logDir, vkey, signatures[3]!);

  await until(() => entries(logDir).length >= 5, 5_000, 'a checkpoint over every entry');
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
  t.equal(daemon.logs.filter((l) => l['msg'] === 'request' && typeof l['logIndex'] === 'number').length, 3, 'each request line names its entry');

  t.test('a log that does not answer: LOG_UNAVAILABLE, nothing returned, and service resumes by itself', async (t) => {
    // Another process holding the log's write lock longer than an append may wait.
    const holder = new Database(path.join(logDir, SEQUENCER_FILE), { timeout: 1_000 });
    t.teardown(() => holder.close());
    holder.exec('BEGIN IMMEDIATE');
    const before = entries(logDir).length;
    const refused = await request(daemon.port, 'while the log is stuck');
    t.match(refused, /^ERR LOG_UNAVAILABLE /, 'refused with LOG_UNAVAILABLE');
    t.same(signaturesOf(refused), [], 'no signature in the reply');
    const metrics = metricsPortOf(daemon);
    await until(async () => (await get(metrics, '/readyz')).status === 503, 10_000, 'not ready while the log cannot append');
    t.match(JSON.parse((await get(metrics, '/readyz')).body), { ready: false }, '/readyz: not ready while the log cannot append');
    holder.exec('ROLLBACK');
    await until(async () => (await get(metrics, '/readyz')).status === 200, 10_000, 'ready again');
    t.pass('and ready again by itself');
    const after = await request(daemon.port, 'after');
    t.equal(signaturesOf(after).length, 1, 'the next request is signed');
    await until(() => entries(logDir).some((e) => e['signature'] === signaturesOf(after)[0]), 5_000, 'its entry under a checkpoint');
    t.ok(entries(logDir).length > before, 'and logged');
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
  });
});
