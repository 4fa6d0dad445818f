// The README's examples drive the daemons with `nc`, which a fresh Debian lacks: the start section
// must say what to install, and name the package CI installs for the tests' own nc.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../helpers/repo-root.js';

const readme = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
const ciPackages = fs
  .readFileSync(path.join(REPO_ROOT, '.ci/apt-packages.txt'), 'utf8')
  .split('\n')
  .map((l) => l.trim());

t.test('the start section says to install netcat-openbsd beside the start command', async (t) => {
  const start = readme.slice(readme.indexOf('## Start everything'), readme.indexOf('## Test'));
  t.match(start, /apt-get install netcat-openbsd[^\n]*\nnpm ci && npm start/, 'the install line sits beside the start command');
  t.ok(readme.includes('| nc 127.0.0.1'), 'the examples do use nc');
  t.ok(ciPackages.includes('netcat-openbsd'), 'and it is the package CI installs for the tests');
});
