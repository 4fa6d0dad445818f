// Many builds at once: signing requests over --http-jobs-max wait their turn in the daemon instead
// of being sent away with a fixed Retry-After that brings them all back together (issue 10, item 4).
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { needTools } from '../../helpers/tools.js';
import { DIGSIG_POST_ARGS, moduleTarball, signModulesAtOnce } from './build-clients.js';
import { leftovers, listTree, run, startFirmwareDaemon, type FirmwareHttp } from './http-fixtures.js';

const MODULE_MAGIC = Buffer.from('~Module signature appended~\n');

/** The daemon's peak resident memory so far (VmHWM). */
function peakRssKiB(pid: number): number {
  return Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
}

/** The class's `tar -x ./lib/modules` works on the reply and every module in it ends with a signature. */
function signedOutputOk(http: FirmwareHttp, output: string, modules: number): boolean {
  const dir = fs.mkdtempSync(path.join(http.base, 'check-'));
  if (run('tar', ['-C', dir, '-x', '-z', '-f', path.join(http.base, output), './lib/modules']).code !== 0) return false;
  const kos = listTree(path.join(dir, 'lib/modules')).filter((f) => f.endsWith('.ko'));
  return (
    kos.length === modules &&
    kos.every((f) =>
      fs
        .readFileSync(path.join(dir, 'lib/modules', f))
        .subarray(-MODULE_MAGIC.length)
        .equals(MODULE_MAGIC),
    )
  );
}

t.test('100 builds post their modules at once, as kernel-module-signing.bbclass does: all are signed', needTools('curl', 'tar'), async (t) => {
  const http = await startFirmwareDaemon(t);
  const modules = 2;
  // About 100 KB per build, sent at 50 KB/s (a builder on a slower link; curl sends its first 64 KB
  // at once): each upload takes about a second, much longer than it takes all 100 to arrive, so
  // the builds really are in the daemon at the same time.
  const tarball = moduleTarball(http, 'build', modules, 50_000);
  const started = Date.now();
  const outputs = Array.from({ length: 100 }, (_, i) => `out-${i}.tar.gz`);
  const results = await signModulesAtOnce(http, tarball, outputs, [...DIGSIG_POST_ARGS, '--limit-rate', '50k']);
  const ms = Date.now() - started;
  t.same(
    outputs.filter((o) => results.get(o) !== '200 0'),
    [],
    'every transfer ends with 200 (curl exit status 0)',
  );
  t.ok(signedOutputOk(http, 'out-0.tar.gz', modules) && signedOutputOk(http, 'out-99.tar.gz', modules), 'the first and the last got their modules signed');
  t.same(await leftovers(http), [], 'nothing left in the temp dir');
  t.comment(`100 concurrent uploads of ${modules} modules: ${ms} ms, daemon peak RSS ${Math.round(peakRssKiB(http.daemon.proc.pid!) / 1024)} MiB`);
});
