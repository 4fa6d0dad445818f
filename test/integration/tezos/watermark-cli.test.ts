// `signerd tezos watermark show|set|export|import` on real stores: set raises only, the daemon
// honours a set mark, and export → import moves marks (with their signatures) from a SQLite
// host to a Redis-backed one, where an identical request gets the very same signature back.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { runSignerd } from '../../helpers/daemon.js';
import { startRedis } from '../../helpers/redis-server.js';
import { needTools } from '../../helpers/tools.js';
import { httpSign, httpSignWhenStoreUp, seedKeys, serveTezos, startTezos, tempDir, TZ1, writeKeys } from './fixtures.js';
import { consensus, MAINNET_ID } from './payloads.js';

t.test('watermark admin commands', needTools('redis-server'), async (t) => {
  const dir = tempDir(t);
  const sqlite = ['--state-dir', path.join(dir, 'state')];
  const keysFile = writeKeys(dir, seedKeys([TZ1]));
  const set = (level: string, ...extra: string[]) =>
    runSignerd(['tezos', 'watermark', 'set', ...sqlite, '--chain', MAINNET_ID, '--pkh', TZ1.pkh, '--kind', 'attestation', '--level', level, ...extra]);

  t.equal((await set('100')).code, 0, 'set a mark');
  const lower = await set('90');
  t.equal(lower.code, 1, 'set refuses to lower a mark');
  t.match(lower.stdout, /--force/);
  t.equal(
    (await runSignerd(['tezos', 'watermark', 'set', ...sqlite, '--chain', 'nope', '--pkh', TZ1.pkh, '--kind', 'attestation', '--level', '1'])).code,
    78,
    'bad chain id: exit 78',
  );
  const shown = await runSignerd(['tezos', 'watermark', 'show', ...sqlite]);
  t.match(shown.stdout, new RegExp(`${MAINNET_ID} ${TZ1.pkh} attestation +100/0 unsigned`), 'show lists the mark');
  // The daemon's own config file, as systemd/config/tezos.json has it: its other options are skipped, a typo is not.
  const daemonConfig = { host: '127.0.0.1', keys: keysFile, stateDir: path.join(dir, 'state'), store: 'sqlite', metricsPort: 9466 };
  fs.writeFileSync(path.join(dir, 'tezos.json'), JSON.stringify(daemonConfig));
  fs.writeFileSync(path.join(dir, 'typo.json'), JSON.stringify({ ...daemonConfig, stateDri: 'x' }));
  const viaConfig = await runSignerd(['tezos', 'watermark', 'show', '--config', path.join(dir, 'tezos.json')]);
  t.equal(viaConfig.stdout, shown.stdout, "show takes the daemon's config file");
  const typo = await runSignerd(['tezos', 'watermark', 'show', '--config', path.join(dir, 'typo.json')]);
  t.equal(typo.code, 78);
  t.match(typo.stderr, /unknown option "stateDri"/, 'a name that is no tezos option is still refused');
  const usage = await runSignerd(['tezos', 'watermark', 'show', '--bogus']);
  t.equal(usage.code, 78);
  t.equal(usage.stderr, "signerd tezos watermark show: CONFIG_INVALID: unknown option '--bogus'\n", 'a usage error names the command that found it');

  const d = await startTezos(t, keysFile, sqlite);
  t.equal((await httpSign(d.httpPort, TZ1.pkh, consensus('attestation', { level: 100, round: 0 }))).status, 409, 'the daemon honours the set mark');
  const signed = await httpSign(d.httpPort, TZ1.pkh, consensus('attestation', { level: 101, round: 0 }));
  t.equal(signed.status, 200, 'and signs above it');
  t.equal(await d.daemon.stop('SIGTERM'), 0, 'SIGTERM: clean exit');

  const exportFile = path.join(dir, 'marks.json');
  t.equal((await runSignerd(['tezos', 'watermark', 'export', ...sqlite, '--out', exportFile])).code, 0, 'export');
  const doc = JSON.parse(fs.readFileSync(exportFile, 'utf8')) as { format: string; marks: Array<Record<string, unknown>> };
  t.equal(doc.format, 'signerd-tezos-watermarks');
  t.match(
    doc.marks,
    [{ chainId: MAINNET_ID, pkh: TZ1.pkh, kind: 'attestation', level: 101, round: 0, signature: signed.signature }],
    'the export carries level, round, digest and signature',
  );

  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const onRedis = ['--store', 'redis', '--redis-url', redis.url];
  const imported = await runSignerd(['tezos', 'watermark', 'import', ...onRedis, exportFile]);
  t.equal(imported.code, 0, imported.stderr);
  t.match(imported.stdout, /imported 1, kept 0/);
  const again = await runSignerd(['tezos', 'watermark', 'import', ...onRedis, exportFile]);
  t.match(again.stdout, /imported 0, kept 1 stored mark\(s\) as high or higher/, 're-import of equal marks is harmless: nothing is rewritten');
  // Neither an equal set nor an import of other bytes at the same mark may drop the stored signature:
  // the replay on the new host below must still get it.
  const equalSet = await runSignerd([
    'tezos',
    'watermark',
    'set',
    ...onRedis,
    '--chain',
    MAINNET_ID,
    '--pkh',
    TZ1.pkh,
    '--kind',
    'attestation',
    '--level',
    '101',
  ]);
  t.equal(equalSet.code, 0, 'set at the stored mark: exit 0');
  t.match(equalSet.stdout, /^unchanged: the stored mark is already 101\/0/);
  const otherBytes = path.join(dir, 'other-bytes.json');
  fs.writeFileSync(otherBytes, JSON.stringify({ ...doc, marks: doc.marks.map((m) => ({ ...m, digest: 'ab'.repeat(32), signature: null })) }));
  t.match((await runSignerd(['tezos', 'watermark', 'import', ...onRedis, otherBytes])).stdout, /imported 0, kept 1/, 'other bytes at the same mark: kept');
  t.equal(
    (await runSignerd(['tezos', 'watermark', 'set', ...onRedis, '--chain', MAINNET_ID, '--pkh', TZ1.pkh, '--kind', 'attestation', '--level', '5'])).code,
    1,
    'redis: set refuses to lower',
  );

  // The new host's daemon, served in this process (its process behaviour is checked above).
  const moved = await serveTezos(t, keysFile, [...onRedis, '--state-dir', path.join(dir, 'moved-state')]);
  const replay = await httpSignWhenStoreUp(moved.httpPort, TZ1.pkh, consensus('attestation', { level: 101, round: 0 }));
  t.equal(replay.signature, signed.signature, 'on the new host, identical bytes return the moved signature');
  t.equal(
    (await httpSign(moved.httpPort, TZ1.pkh, consensus('attestation', { level: 101, round: 0, variant: 'z' }))).status,
    409,
    'and other bytes at the moved mark are refused',
  );

  fs.writeFileSync(path.join(dir, 'bad.json'), JSON.stringify({ marks: [{ chainId: MAINNET_ID, pkh: TZ1.pkh, kind: 'block', level: -1, round: 0 }] }));
  t.equal((await runSignerd(['tezos', 'watermark', 'import', ...onRedis, path.join(dir, 'bad.json')])).code, 78, 'an invalid import is refused whole');
  const mark = (level: number) => ({ chainId: MAINNET_ID, pkh: TZ1.pkh, kind: 'block', level, round: 0, digest: '', signature: null });
  fs.writeFileSync(path.join(dir, 'twice.json'), JSON.stringify({ marks: [mark(500), mark(400)] }));
  const twice = await runSignerd(['tezos', 'watermark', 'import', '--force', ...onRedis, path.join(dir, 'twice.json')]);
  t.equal(twice.code, 78, 'two marks for one slot in one file: refused whole, even with --force (the last would win, lowering the slot)');
  t.match(twice.stderr, /marks\[0\] and marks\[1\] are both for/);
});

t.test('show and export against a state directory with no watermark store: refused, path named, nothing created', async (t) => {
  const dir = tempDir(t);
  const missing = path.join(dir, 'no-such-state');
  for (const sub of ['show', 'export']) {
    const run = await runSignerd(['tezos', 'watermark', sub, '--state-dir', missing]);
    t.equal(run.code, 78, `${sub}: exit 78`);
    t.match(run.stderr, `CONFIG_INVALID: no watermark store at ${path.join(missing, 'tezos-watermarks.sqlite')}`, `${sub}: names the path`);
    t.notOk(fs.existsSync(missing), `${sub}: created nothing`);
  }
  const set = await runSignerd([
    'tezos',
    'watermark',
    'set',
    '--state-dir',
    missing,
    '--chain',
    MAINNET_ID,
    '--pkh',
    TZ1.pkh,
    '--kind',
    'block',
    '--level',
    '7',
  ]);
  t.equal(set.code, 0, 'set may start a store (a new host begins above the old one)');
  t.match((await runSignerd(['tezos', 'watermark', 'show', '--state-dir', missing])).stdout, / block +7\/0 unsigned/);
});
