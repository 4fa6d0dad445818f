// The systemd units as systemd itself reads them: `systemd-analyze verify` finds no error in the
// template and drop-ins for any daemon, and `systemd-analyze security` rates the exposure low.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../helpers/repo-root.js';
import { needTools } from '../../helpers/tools.js';

const systemdDir = path.join(REPO_ROOT, 'systemd');
const DAEMONS = ['sign-rsa', 'verify-rsa', 'sign-ecdsa', 'verify-ecdsa', 'hmac', 'tezos', 'firmware'];

function analyze(args: string[], cwd: string): string {
  try {
    return execFileSync('systemd-analyze', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return `${e.stdout ?? ''}${e.stderr ?? ''}`;
  }
}

t.test('units verify and are hardened', needTools('systemd-analyze'), async (t) => {
  const template = fs.readFileSync(path.join(systemdDir, 'signerd@.service'), 'utf8');
  for (const directive of [
    'RestartPreventExitStatus=78',
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    'PrivateTmp=yes',
    'IPAddressDeny=any',
    'IPAddressAllow=localhost',
    'User=signerd',
  ]) {
    t.ok(template.includes(directive), directive);
  }
  t.notOk(/^MemoryDenyWriteExecute=yes/m.test(template), 'no MemoryDenyWriteExecute=yes: Node cannot run under it');

  for (const daemon of DAEMONS) {
    const dir = t.testdir();
    fs.copyFileSync(path.join(systemdDir, 'signerd@.service'), path.join(dir, 'signerd@.service'));
    fs.symlinkSync('signerd@.service', path.join(dir, `signerd@${daemon}.service`));
    const dropIns = path.join(systemdDir, `signerd@${daemon}.service.d`);
    if (fs.existsSync(dropIns)) fs.cpSync(dropIns, path.join(dir, `signerd@${daemon}.service.d`), { recursive: true });
    const problems = analyze(['verify', '--man=no', `./signerd@${daemon}.service`], dir)
      .split('\n')
      .filter((line) => line.trim() && !line.includes('/usr/bin/signerd is not executable'));
    t.same(problems, [], `${daemon}: systemd-analyze verify reports nothing but the uninstalled binary`);
    const exposure = /Overall exposure level for .*: ([0-9.]+)/.exec(analyze(['security', '--offline=yes', `./signerd@${daemon}.service`], dir));
    t.ok(exposure && Number(exposure[1]) <= 2.0, `${daemon}: exposure ${exposure?.[1]} is at most 2.0`);
  }
});

t.test('the log server unit verifies, is hardened and only reads the state directory', needTools('systemd-analyze'), async (t) => {
  const dir = t.testdir();
  const unit = fs.readFileSync(path.join(systemdDir, 'signerd-log-serve.service'), 'utf8');
  t.match(unit, /^ExecStart=\/usr\/bin\/signerd log serve --config \/etc\/signerd\/log-serve\.json$/m);
  t.match(unit, /^ReadOnlyPaths=\/var\/lib\/signerd$/m);
  for (const directive of [
    'RestartPreventExitStatus=78',
    'Type=notify',
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    'IPAddressAllow=localhost',
    'User=signerd',
  ]) {
    t.ok(unit.includes(directive), directive);
  }
  fs.writeFileSync(path.join(dir, 'signerd-log-serve.service'), unit);
  const problems = analyze(['verify', '--man=no', './signerd-log-serve.service'], dir)
    .split('\n')
    .filter((line) => line.trim() && !line.includes('/usr/bin/signerd is not executable'));
  t.same(problems, [], 'systemd-analyze verify reports nothing but the uninstalled binary');
  const exposure = /Overall exposure level for .*: ([0-9.]+)/.exec(analyze(['security', '--offline=yes', './signerd-log-serve.service'], dir));
  t.ok(exposure && Number(exposure[1]) <= 2.0, `exposure ${exposure?.[1]} is at most 2.0`);
});

t.test('example drop-ins verify on the daemon they are for', needTools('systemd-analyze'), async (t) => {
  // An HSM-backed signer uses the example instead of key.conf, as the examples tell the operator.
  const uses: Array<[string, string, boolean]> = [
    ['softhsm.conf', 'sign-rsa', false],
    ['hardware-hsm.conf', 'sign-ecdsa', false],
    ['softhsm.conf', 'tezos', true],
    ['firmware-mender-artifacts.conf', 'firmware', true],
  ];
  t.same(fs.readdirSync(path.join(systemdDir, 'examples')).sort(), [...new Set(uses.map(([example]) => example))].sort(), 'every example is checked');
  for (const [example, daemon, keepShipped] of uses) {
    const dir = t.testdir();
    fs.copyFileSync(path.join(systemdDir, 'signerd@.service'), path.join(dir, 'signerd@.service'));
    fs.symlinkSync('signerd@.service', path.join(dir, `signerd@${daemon}.service`));
    const dropIns = path.join(dir, `signerd@${daemon}.service.d`);
    const shipped = path.join(systemdDir, `signerd@${daemon}.service.d`);
    if (keepShipped && fs.existsSync(shipped)) fs.cpSync(shipped, dropIns, { recursive: true });
    fs.mkdirSync(dropIns, { recursive: true });
    fs.copyFileSync(path.join(systemdDir, 'examples', example), path.join(dropIns, example));
    const problems = analyze(['verify', '--man=no', `./signerd@${daemon}.service`], dir)
      .split('\n')
      .filter((line) => line.trim() && !line.includes('/usr/bin/signerd is not executable'));
    t.same(problems, [], `${example} on ${daemon}: systemd-analyze verify reports nothing but the uninstalled binary`);
  }
});
