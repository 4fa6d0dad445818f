// The alert rules docs/metrics.md offers to start from are valid Prometheus rules (promtool), every
// signerd metric they name is one the daemons export (listed in the doc's metrics table), and
// `promtool test rules` holds them to what they claim on made-up series: they fire on the failures
// they name and not on a healthy daemon's normal behaviour.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../../helpers/repo-root.js';
import { needTools } from '../../helpers/tools.js';

const doc = fs.readFileSync(path.join(REPO_ROOT, 'docs/metrics.md'), 'utf8');

/**
 * The cases: checkpoints that stopped while entries stay uncovered (signing stopped too) fire
 * SignerdLogUncheckpointed; a log that keeps up does not; a firmware upload of seconds does not fire
 * SignerdSlowRequests, a slow sign listener does.
 */
const RULE_TESTS = `rule_files: [rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'signerd_transparency_log_entries{daemon="sign-ecdsa",instance="a"}'
        values: '95x8 98x40'
      - series: 'signerd_transparency_log_checkpoint_entries{daemon="sign-ecdsa",instance="a"}'
        values: '95x48'
      - series: 'signerd_transparency_log_entries{daemon="tezos",instance="b"}'
        values: '0+10x48'
      - series: 'signerd_transparency_log_checkpoint_entries{daemon="tezos",instance="b"}'
        values: '0+10x48'
    alert_rule_test:
      - eval_time: 30m
        alertname: SignerdLogUncheckpointed
        exp_alerts:
          - exp_labels: {daemon: sign-ecdsa, instance: a}
            exp_annotations:
              summary: "sign-ecdsa: transparency log entries no checkpoint covers for 5 minutes; the log's \\"checkpoint failed\\" lines say why"
  - interval: 1m
    input_series:
      - series: 'signerd_request_duration_seconds_bucket{daemon="firmware",instance="a",kind="http",outcome="ok",le="1"}'
        values: '0x30'
      - series: 'signerd_request_duration_seconds_bucket{daemon="firmware",instance="a",kind="http",outcome="ok",le="10"}'
        values: '0+1x30'
      - series: 'signerd_request_duration_seconds_bucket{daemon="firmware",instance="a",kind="http",outcome="ok",le="+Inf"}'
        values: '0+1x30'
      - series: 'signerd_request_duration_seconds_bucket{daemon="sign-rsa",instance="b",kind="sign",outcome="ok",le="0.5"}'
        values: '0x30'
      - series: 'signerd_request_duration_seconds_bucket{daemon="sign-rsa",instance="b",kind="sign",outcome="ok",le="1"}'
        values: '0+60x30'
      - series: 'signerd_request_duration_seconds_bucket{daemon="sign-rsa",instance="b",kind="sign",outcome="ok",le="+Inf"}'
        values: '0+60x30'
    alert_rule_test:
      - eval_time: 25m
        alertname: SignerdSlowRequests
        exp_alerts:
          - exp_labels: {daemon: sign-rsa, instance: b}
            exp_annotations:
              summary: 'sign-rsa: p99 latency of successful requests above 500 ms'
`;

t.test('the documented alert rules pass promtool check rules', needTools('promtool'), async (t) => {
  const rules = /## Alert rules to start from\n\n```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
  t.ok(rules, 'the doc has its rules block');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signerd-rules-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'rules.yml'), rules!);
  const out = execFileSync('promtool', ['check', 'rules', path.join(dir, 'rules.yml')], { encoding: 'utf8', timeout: 30_000 });
  t.match(out, /SUCCESS: \d+ rules found/);
  fs.writeFileSync(path.join(dir, 'tests.yml'), RULE_TESTS);
  const tested = execFileSync('promtool', ['test', 'rules', path.join(dir, 'tests.yml')], { encoding: 'utf8', cwd: dir, timeout: 30_000 });
  t.match(tested, /SUCCESS/, 'promtool test rules');
  const documented = new Set([...doc.matchAll(/^\| `(signerd_[a-z_]+)` \|/gm)].map((m) => m[1]));
  for (const name of new Set(rules!.match(/signerd_[a-z_]+/g))) {
    const base = name.replace(/_(bucket|sum|count)$/, '');
    t.ok(documented.has(base), `${name} is a documented metric`);
  }
});
