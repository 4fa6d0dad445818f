// The alert rules docs/metrics.md offers to start from are valid Prometheus rules (promtool), and
// every signerd metric they name is one the daemons export (listed in the doc's metrics table).
import t from 'tap';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../../helpers/repo-root.js';
import { needTools } from '../../helpers/tools.js';

const doc = fs.readFileSync(path.join(REPO_ROOT, 'docs/metrics.md'), 'utf8');

t.test('the documented alert rules pass promtool check rules', needTools('promtool'), async (t) => {
  const rules = /## Alert rules to start from\n\n```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
  t.ok(rules, 'the doc has its rules block');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signerd-rules-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'rules.yml'), rules!);
  const out = execFileSync('promtool', ['check', 'rules', path.join(dir, 'rules.yml')], { encoding: 'utf8', timeout: 30_000 });
  t.match(out, /SUCCESS: \d+ rules found/);
  const documented = new Set([...doc.matchAll(/^\| `(signerd_[a-z_]+)` \|/gm)].map((m) => m[1]));
  for (const name of new Set(rules!.match(/signerd_[a-z_]+/g))) {
    const base = name.replace(/_(bucket|sum|count)$/, '');
    t.ok(documented.has(base), `${name} is a documented metric`);
  }
});
