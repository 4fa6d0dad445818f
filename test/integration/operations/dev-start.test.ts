// `npm start` as the README runs it: dev-start starts every daemon on the default ports, and Ctrl-C
// (SIGINT to the whole foreground process group, as a terminal sends it) stops each daemon with one
// drain: "stopped", exit 0, no "second signal, exiting now". Before, the terminal's SIGINT and
// dev-start's SIGTERM both reached every daemon, which then skipped its drain and exited 1.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import { REPO_ROOT } from '../../helpers/repo-root.js';

const dir = t.testdir();
const DEV_PORTS = [9948, 9949, 9848, 9849, 9850, 9851, 8080, 9732, 6732, 9998, 9999];

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer().once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

t.test('Ctrl-C drains every daemon once and exits 0', async (t) => {
  const busy = [];
  for (const port of DEV_PORTS) if (!(await portFree(port))) busy.push(port);
  t.same(busy, [], 'the development ports are free (a running `npm start` would hold them)');
  if (busy.length > 0) return;
  const devDir = path.join(dir, 'dev');
  // Its own process group, as a shell gives a foreground job: the group is what Ctrl-C signals.
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
  });
  const ready = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 60_000);
    proc.stdout.on('data', () => out.includes('Ctrl-C stops everything.') && (clearTimeout(timer), resolve(true)));
    void exited.then(() => (clearTimeout(timer), resolve(false)));
  });
  t.ok(ready, `the stack started: ${out.slice(-400)}`);
  process.kill(-proc.pid!, 'SIGINT');
  t.equal(await exited, 0, 'dev-start exits 0');
  const logs = fs.readdirSync(path.join(devDir, 'logs'));
  t.equal(logs.length, 7, 'seven daemon logs');
  for (const name of logs) {
    const lines = fs.readFileSync(path.join(devDir, 'logs', name), 'utf8');
    t.match(lines, /"msg":"stopped"/, `${name}: drained and stopped`);
    t.notMatch(lines, /second signal/, `${name}: one signal only`);
  }
});
