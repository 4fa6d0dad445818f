// The state-directory probe's file: a process killed between its write and its removal leaves it,
// and no later process (each with its own random id) would remove it. The first probe of a process
// removes such files older than a minute, and leaves younger ones (another daemon's probe under way).
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { probeDirectory } from '../../../lib/operations/probes.js';

t.test('stale probe files are swept at the first probe', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signerd-probe-files-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const stale = path.join(dir, '.readiness-probe-0123456789abcdef0123456789abcdef');
  const live = path.join(dir, '.readiness-probe-fedcba9876543210fedcba9876543210');
  const other = path.join(dir, 'validity.sqlite');
  for (const file of [stale, live, other]) fs.writeFileSync(file, 'x');
  const old = new Date(Date.now() - 5 * 60_000);
  fs.utimesSync(stale, old, old);
  fs.utimesSync(other, old, old);
  await probeDirectory(dir, 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa');
  t.notOk(fs.existsSync(stale), 'a five-minute-old probe file is removed');
  t.ok(fs.existsSync(live), "a fresh one (another daemon's probe) stays");
  t.ok(fs.existsSync(other), 'other files are never touched');
  t.same(fs.readdirSync(dir).sort(), [path.basename(live), 'validity.sqlite'].sort(), "and the probe's own file is gone");
});
