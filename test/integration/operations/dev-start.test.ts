// `npm start` as the README runs it: dev-start starts every daemon on the default ports, and Ctrl-C
// (SIGINT to the whole foreground process group, as a terminal sends it) stops each daemon with one
// drain: "stopped", exit 0, no "second signal, exiting now". Before, the terminal's SIGINT and
// dev-start's SIGTERM both reached every daemon, which then skipped its drain and exited 1. A Ctrl-C
// during start-up leaves no daemon behind either (they run in their own process groups).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import t, { type Test } from 'tap';
import { REPO_ROOT } from '../../helpers/repo-root.js';
import { until } from '../../helpers/polling.js';

const dir = t.testdir();
const DEV_PORTS = [9948, 9949, 9848, 9849, 9850, 9851, 8080, 9732, 6732, 9998, 9999];

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer().once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** The pids of the daemons a development stack started, from the first line of each daemon's log. */
function daemonPids(devDir: string): number[] {
  const logs = path.join(devDir, 'logs');
  if (!fs.existsSync(logs)) return [];
  return fs
    .readdirSync(logs)
    .map((name) => /"pid":(\d+)/.exec(fs.readFileSync(path.join(logs, name), 'utf8'))?.[1])
    .filter((pid): pid is string => pid !== undefined)
    .map(Number);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** dev-start in its own process group, as a shell gives a foreground job: the group is what Ctrl-C signals. */
async function launch(t: Test, name: string) {
  const busy = [];
  for (const port of DEV_PORTS) if (!(await portFree(port))) busy.push(port);
  t.same(busy, [], 'the development ports are free (a running `npm start` would hold them)');
  const devDir = path.join(dir, name);
  const proc = spawn(process.execPath, [path.join(REPO_ROOT, 'dist/bin/dev-start.js')], {
    env: { ...process.env, SIGNERD_DEV_DIR: devDir },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  t.teardown(() => {
    try {
      process.kill(-proc.pid!, 'SIGKILL');
    } catch {
      // Already gone.
    }
    // Daemons left by a failing run sit in their own groups and would hold the ports for the next one.
    spawnSync('pkill', ['-KILL', '-f', devDir]);
  });
  return { devDir, exited, output: () => out, ctrlC: () => process.kill(-proc.pid!, 'SIGINT') };
}

t.test('Ctrl-C drains every daemon once and exits 0', async (t) => {
  const stack = await launch(t, 'dev');
  // Polls for the banner; every way out clears both timers, or the 60 s one would keep this file's
  // process (and its place among tap's jobs) alive for a minute after the tests end.
  const ready = await new Promise<boolean>((resolve) => {
    const settle = (started: boolean) => {
      clearInterval(poll);
      clearTimeout(deadline);
      resolve(started);
    };
    const poll = setInterval(() => stack.output().includes('Ctrl-C stops everything.') && settle(true), 50);
    const deadline = setTimeout(() => settle(false), 60_000);
    void stack.exited.then(() => settle(false));
  });
  t.ok(ready, `the stack started: ${stack.output().slice(-400)}`);
  stack.ctrlC();
  t.equal(await stack.exited, 0, 'dev-start exits 0');
  const logs = fs.readdirSync(path.join(stack.devDir, 'logs'));
  t.equal(logs.length, 7, 'seven daemon logs');
  for (const name of logs) {
    const lines = fs.readFileSync(path.join(stack.devDir, 'logs', name), 'utf8');
    t.match(lines, /"msg":"stopped"/, `${name}: drained and stopped`);
    t.notMatch(lines, /second signal/, `${name}: one signal only`);
  }
});

t.test('Ctrl-C during start-up leaves no daemon running', async (t) => {
  const stack = await launch(t, 'dev-interrupted');
  // Once the first daemon has logged (so some are up and others still starting), before the banner.
  const logs = path.join(stack.devDir, 'logs');
  await until(() => daemonPids(stack.devDir).length > 0, 30_000);
  t.ok(fs.existsSync(logs) && daemonPids(stack.devDir).length > 0, 'a daemon had started');
  stack.ctrlC();
  await stack.exited;
  const pids = daemonPids(stack.devDir);
  await until(() => !pids.some(alive), 5_000, 50);
  t.same(pids.filter(alive), [], `none of the ${pids.length} daemons started is left running`);
  t.notMatch(stack.output(), /Ctrl-C stops everything/, 'and no banner for a stack that was stopped');
});
