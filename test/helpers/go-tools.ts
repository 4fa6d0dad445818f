// Builds the Go tools under test/tools/ (independent verifiers) with Debian's golang-go and the
// Go packages Debian puts under /usr/share/gocode, offline (GOPATH mode, no module download).
// One binary per source version, cached in the temp directory and shared by the test files.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from './repo-root.js';
import { needTools } from './tools.js';

const GOPATH = '/usr/share/gocode';

/** tap options: skip off CI (fail in CI) without go or the Debian x/mod sources. */
export function needGo(): { skip?: string } {
  const tools = needTools('go');
  if (tools.skip) return tools;
  if (!fs.existsSync(path.join(GOPATH, 'src/golang.org/x/mod/sumdb/tlog'))) {
    if (process.env['CI'] === 'true') throw new Error('CI: golang.org/x/mod not under /usr/share/gocode (apt-get install golang-golang-x-mod-dev)');
    return { skip: 'golang-golang-x-mod-dev is not installed' };
  }
  return {};
}

/** The path of test/tools/<name>'s binary, built now unless this source was built before. */
export function goTool(name: string): string {
  const source = path.join(REPO_ROOT, 'test/tools', name, 'main.go');
  const digest = crypto.createHash('sha256').update(fs.readFileSync(source)).digest('hex').slice(0, 16);
  const dir = path.join(os.tmpdir(), 'signerd-go-tools');
  const binary = path.join(dir, `${name}-${digest}`);
  if (fs.existsSync(binary)) return binary;
  fs.mkdirSync(dir, { recursive: true });
  // Built under a temporary name and renamed: test files building at once never see half a binary.
  const temp = `${binary}.${process.pid}`;
  execFileSync('go', ['build', '-o', temp, source], {
    env: { ...process.env, GO111MODULE: 'off', GOPATH, GOCACHE: path.join(dir, 'cache'), GOFLAGS: '', CGO_ENABLED: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 120_000,
  });
  fs.renameSync(temp, binary);
  return binary;
}
