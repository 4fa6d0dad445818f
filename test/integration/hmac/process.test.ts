// The hmac daemon as a process: clear start-up failures (exit 78) for every secret problem,
// SIGHUP reloads that are atomic (a failed one keeps the old secrets), key-version rotation
// with retired versions accepted only while configured, and SIGTERM.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { runSignerd } from '../../helpers/daemon.js';
import { request } from '../../helpers/line-client.js';
import { needTools } from '../../helpers/tools.js';
import { derivedDir, mode16Dir, mode32Dir, singleDir, writeSecret } from '../../unit/hmac/secret-fixtures.js';
import { referenceTags, startHmac, waitForLog } from './hmac-fixtures.js';

const base = t.testdir();
const ports = ['--port', '0', '--verify-port', '0'];

t.test('start-up failures exit 78 with one clear line and no secret bytes', async (t) => {
  const cases: Array<[string, string[], RegExp]> = [];
  const single = singleDir(path.join(base, 'ok-single'));
  cases.push(['unknown mode', ['--mode', 'mode64', '--secret-dir', single], /CONFIG_INVALID: --mode: "mode64" is not one of/]);
  cases.push(['missing secret', ['--secret-dir', path.join(base, 'nowhere')], /KEY_LOAD_FAILED: secret .*nowhere\/secret: ENOENT/]);
  const loose = singleDir(path.join(base, 'loose'));
  fs.chmodSync(path.join(loose, 'secret'), 0o644);
  cases.push(['group/other-readable', ['--secret-dir', loose], /KEY_FILE_INSECURE: secret .* has mode 0644; .*chmod 600/]);
  const short = path.join(base, 'short');
  writeSecret(path.join(short, '0000'), crypto.randomBytes(2048));
  cases.push([
    'mode16 table too short',
    ['--mode', 'MODE16', '--secret-dir', short],
    /KEY_LOAD_FAILED: mode16 secret table .* expected exactly 2097152 bytes, found 2048/,
  ]);
  const m32 = mode32Dir(path.join(base, 'm32'), ['0000', 'ffff']);
  // Every mode refuses a secret directory others may rename in (secrets probe: mode32 took it).
  const open32 = mode32Dir(path.join(base, 'open32'), ['0000']);
  fs.chmodSync(open32, 0o777);
  cases.push([
    'mode32 in a 0777 directory',
    ['--mode', 'mode32', '--mode32-files', 'present', '--secret-dir', open32],
    /KEY_FILE_INSECURE: mode32 secret directory .*open32 is under .*open32, which has mode 0777; .*chmod go-w/,
  ]);
  const openSingle = singleDir(path.join(base, 'open-single'));
  fs.chmodSync(openSingle, 0o777);
  cases.push(['single in a 0777 directory', ['--secret-dir', openSingle], /KEY_FILE_INSECURE: secret .* is under .*open-single, which has mode 0777/]);
  cases.push(['mode32 without all files', ['--mode', 'mode32', '--secret-dir', m32], /KEY_LOAD_FAILED: mode32: 65534 of 65536 secret files are missing/]);
  cases.push([
    'key version in a seed mode',
    ['--secret-dir', single, '--key-version', '2'],
    /CONFIG_INVALID: --key-version and --accept-versions apply to --mode derived only/,
  ]);
  const derived = derivedDir(path.join(base, 'derived-1'), [1]);
  const misnamed = derivedDir(path.join(base, 'derived-misnamed'), [1]);
  fs.copyFileSync(path.join(misnamed, 'master-v1'), path.join(misnamed, 'master-v02'));
  cases.push([
    'an empty --accept-versions (a blank template): none is said with none',
    ['--mode', 'derived', '--secret-dir', derived, '--accept-versions', ''],
    /CONFIG_INVALID: --accept-versions: empty; list versions \(1,2\) or say none/,
  ]);
  cases.push([
    'a master file that names no version (leading zero)',
    ['--mode', 'derived', '--secret-dir', misnamed],
    /KEY_LOAD_FAILED: secret directory .*master-v02 names no key version/,
  ]);
  cases.push(['pinned version without its file', ['--mode', 'derived', '--secret-dir', derived, '--key-version', '2'], /KEY_LOAD_FAILED: .*master-v2: ENOENT/]);
  // The HKDF info holds the version as a u32; a larger one once started and failed every request INTERNAL.
  cases.push([
    'a version beyond any master file name',
    ['--mode', 'derived', '--secret-dir', derived, '--key-version', '5000000000'],
    /CONFIG_INVALID: --key-version: at most 999999999, got 5000000000/,
  ]);
  const config = path.join(base, 'typo.json');
  fs.writeFileSync(config, JSON.stringify({ secretDir: single, mdoe: 'single' }));
  cases.push(['config typo', ['--config', config], /CONFIG_INVALID: config file .*unknown option "mdoe"/]);
  const secretHex = fs.readFileSync(path.join(single, 'secret')).toString('hex');
  for (const [name, args, stderr] of cases) {
    // Bounded: a case wrongly accepted would serve until killed.
    const run = await runSignerd(['hmac', ...ports, ...args], undefined, undefined, 30_000);
    t.equal(run.code, 78, `${name}: exit 78`);
    t.match(run.stderr, stderr, name);
    t.notOk((run.stdout + run.stderr).includes(secretHex), `${name}: no secret bytes in the output`);
  }
  const good = path.join(base, 'good.json');
  fs.writeFileSync(good, JSON.stringify({ mode: 'mode16', secretDir: mode16Dir(path.join(base, 'cfg16')), reply: 'json' }));
  const fromConfig = await startHmac(['--config', good]);
  t.match(JSON.parse(await request(fromConfig.port, 'x')), { mode: 'mode16' }, 'options from --config');
  t.equal(await fromConfig.stop(), 0, 'SIGTERM: exit 0');
});

t.test('SIGHUP: atomic reload, a failed reload keeps the old secret', needTools('python3'), async (t) => {
  const dir = singleDir(path.join(base, 'hup'));
  const file = path.join(dir, 'secret');
  const daemon = await startHmac(['--secret-dir', dir]);
  t.teardown(() => daemon.stop());
  const msg = Buffer.from('reload me');
  const before = referenceTags('single', dir, [msg])[0]!.tag;
  t.equal(await request(daemon.port, 'reload me'), before);
  const oldSecret = fs.readFileSync(file);

  const hup = async (expect: string): Promise<Record<string, unknown>> => {
    const from = daemon.logs.length;
    daemon.proc.kill('SIGHUP');
    return waitForLog(daemon, expect, from);
  };
  fs.writeFileSync(file, crypto.randomBytes(16));
  t.match(await hup('reload failed; keeping the previous configuration'), { err: /expected exactly 32 bytes, found 16/ });
  t.equal(await request(daemon.port, 'reload me'), before, 'short secret: old secret still serves');
  fs.writeFileSync(file, crypto.randomBytes(32));
  fs.chmodSync(file, 0o640);
  t.match(await hup('reload failed; keeping the previous configuration'), { err: /mode 0640/ });
  t.equal(await request(daemon.port, 'reload me'), before, 'loose mode: old secret still serves');
  fs.chmodSync(file, 0o600);
  t.match(await hup('secrets reloaded'), { mode: 'single' });
  const after = referenceTags('single', dir, [msg])[0]!.tag;
  t.not(after, before);
  t.equal(await request(daemon.port, 'reload me'), after, 'new secret in use');
  t.equal(await request(daemon.ports[1]!, `${before} reload me`), 'Invalid.', 'the old secret is gone (seed modes have no versions)');
  t.notOk(JSON.stringify(daemon.logs).includes(oldSecret.toString('hex')), 'no secret in the log');
});

t.test('derived: rotation by SIGHUP; retired versions verify only while configured', needTools('python3'), async (t) => {
  const dir = derivedDir(path.join(base, 'rotate'), [1]);
  const daemon = await startHmac(['--mode', 'derived', '--secret-dir', dir]);
  const pinned = await startHmac(['--mode', 'derived', '--secret-dir', dir, '--accept-versions', 'none']);
  t.teardown(async () => {
    await daemon.stop();
    await pinned.stop();
  });
  const msg = Buffer.from('rotate me');
  const v1 = referenceTags('derived', dir, [msg], 1)[0]!.tag;
  t.equal(await request(daemon.port, 'rotate me'), v1);

  derivedDir(dir, [2]);
  const v2 = referenceTags('derived', dir, [msg], 2)[0]!.tag;
  for (const d of [daemon, pinned]) {
    const from = d.logs.length;
    d.proc.kill('SIGHUP');
    t.match(await waitForLog(d, 'secrets reloaded', from), { keyVersion: 2 });
  }
  t.equal(await request(daemon.port, 'rotate me'), v2, 'new tags use v2 (the highest master file)');
  t.equal(await request(daemon.ports[1]!, `${v2} rotate me`), 'Valid.');
  t.equal(await request(daemon.ports[1]!, `${v1} rotate me`), 'Valid.', 'v1 tags still verify while master-v1 is present');
  t.equal(await request(pinned.ports[1]!, `${v1} rotate me`), 'Invalid.', '--accept-versions none: v1 refused at once');
  t.equal(await request(pinned.ports[1]!, `${v2} rotate me`), 'Valid.');

  fs.rmSync(path.join(dir, 'master-v1'));
  const from = daemon.logs.length;
  daemon.proc.kill('SIGHUP');
  t.match(await waitForLog(daemon, 'secrets reloaded', from), { keyVersion: 2, acceptedVersions: [] });
  t.equal(await request(daemon.ports[1]!, `${v1} rotate me`), 'Invalid.', 'v1 retired: its tags no longer verify');
  t.equal(await request(daemon.ports[1]!, `${v2} rotate me`), 'Valid.');
});

t.test('--help documents the options', async (t) => {
  const help = await runSignerd(['hmac', '--help']);
  t.equal(help.code, 0);
  for (const option of [
    '--port',
    '--verify-port',
    '--http-port',
    '--http-host',
    '--http-body-bytes-max',
    '--mode',
    '--secret-dir',
    '--mode32-files',
    '--key-version',
    '--accept-versions',
    '--chunk-bytes',
    '--keep-open',
    '--reply',
    '--line-bytes-max',
    '--config',
  ]) {
    t.ok(help.stdout.includes(option), `hmac --help mentions ${option}`);
  }
  t.ok((await runSignerd(['--help'])).stdout.includes('hmac'), 'signerd --help lists hmac');
});
