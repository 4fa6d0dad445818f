// tezos with --transparency-log: each signature it returns (replays too) is a sign entry with its
// kind, chain, level and round, and its bundle verifies offline with signerd and the Go verifier; a
// log outage withholds the signature without losing the slot; watermark set records the marks it moves.
import t from 'tap';
import crypto from 'node:crypto';
import path from 'node:path';
import { runSignerd } from '../../helpers/daemon.js';
import { checkBundle, holdWriteLock, makeKey, publishedEntries } from './fixtures.js';
import { waitFor } from '../../helpers/polling.js';
import { httpSign, TZ1, writeKeys, seedKeys, serveTezos } from '../tezos/fixtures.js';
import { consensus, MAINNET_ID } from '../tezos/payloads.js';

t.test('tezos with the log: a preattestation and its replay', async (t) => {
  const dir = t.testdir();
  const logDir = path.join(dir, 'log');
  const { keyFile, vkey } = await makeKey(dir);
  const keysFile = writeKeys(dir, seedKeys([TZ1]));
  const served = await serveTezos(t, keysFile, ['--state-dir', path.join(dir, 'state'), '--transparency-log', logDir, '--transparency-log-key', keyFile]);

  const payload = consensus('preattestation', { level: 7, round: 1 });
  const signed = await httpSign(served.httpPort, TZ1.pkh, payload);
  t.equal(signed.status, 200, `signed: ${JSON.stringify(signed.body)}`);
  const replay = await httpSign(served.httpPort, TZ1.pkh, payload);
  t.equal(replay.signature, signed.signature, 'an identical retry gets the same signature');

  await checkBundle(t, dir, logDir, vkey, signed.signature!);
  await waitFor(() => publishedEntries(logDir).length >= 3, 5_000, 'a checkpoint over every entry');
  const logged = publishedEntries(logDir);
  t.match(logged[0], { kind: 'key-loaded', source: 'tezos', keyId: TZ1.pkh, algorithm: 'ed25519', backend: 'file' }, 'the key, by its hash');
  const signs = logged.filter((e) => e['kind'] === 'sign');
  t.equal(signs.length, 2, 'the signature and its replay: each left the daemon, each is logged');
  t.match(signs[0], {
    source: 'tezos',
    keyId: TZ1.pkh,
    algorithm: 'ed25519',
    messageSha256: crypto.createHash('sha256').update(payload).digest('hex'),
    tezos: { requestKind: 'preattestation', chainId: MAINNET_ID, level: 7, round: 1 },
  });
  t.ok(
    served.logs.some((l) => l['msg'] === 'request' && typeof l['logIndex'] === 'number'),
    'the request line names its entry',
  );

  t.test('a log outage withholds the signature; the retry of the same bytes is served and logged', async (t) => {
    const next = consensus('attestation', { level: 8, round: 0 });
    const lock = holdWriteLock(t, logDir);
    const refused = await httpSign(served.httpPort, TZ1.pkh, next);
    t.same([refused.status, refused.code, refused.signature], [503, 'LOG_UNAVAILABLE', null], 'no signature while the log is stuck');
    lock.release();
    const retry = await httpSign(served.httpPort, TZ1.pkh, next);
    t.equal(retry.status, 200, 'the baker retries the same bytes: the slot was not lost');
    await checkBundle(t, dir, logDir, vkey, retry.signature!);
  });
});

t.test('tezos watermark set records every mark it moves, and a lowered one before it moves', async (t) => {
  const dir = t.testdir();
  const logDir = path.join(dir, 'log');
  const { keyFile } = await makeKey(dir);
  const set = (level: string, ...extra: string[]) =>
    runSignerd([
      'tezos',
      'watermark',
      'set',
      '--state-dir',
      path.join(dir, 'state'),
      '--chain',
      MAINNET_ID,
      '--pkh',
      TZ1.pkh,
      '--kind',
      'block',
      '--level',
      level,
      '--transparency-log',
      logDir,
      '--transparency-log-key',
      keyFile,
      ...extra,
    ]);
  t.equal((await set('10')).code, 0, 'raised');
  t.equal((await set('5')).code, 1, 'not lowered without --force');
  t.equal((await set('4', '--force')).code, 0, 'lowered with --force');
  // Each command closes its log with a checkpoint over its entries.
  t.match(publishedEntries(logDir), [
    { kind: 'watermark-set', source: 'admin', chainId: MAINNET_ID, pkh: TZ1.pkh, requestKind: 'block', level: 10, round: 0, forced: false },
    { kind: 'watermark-set', source: 'admin', level: 4, forced: true },
  ]);
  t.equal(publishedEntries(logDir).length, 2, 'nothing for the mark that did not move');
});
