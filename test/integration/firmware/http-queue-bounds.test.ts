// The bounds of the firmware HTTP queue: upload bytes on disk (--http-queue-bytes-max), requests let
// in (--http-queue-max) and time waited (--http-queue-ms-max); past a bound the refusal is a 503
// whose Retry-After is spread out, so refused builds do not all come back at the same moment.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { needTools } from '../../helpers/tools.js';
import { DIGSIG_POST_ARGS, moduleTarball, signModules, signModulesAtOnce, stalledUpload } from './build-clients.js';
import { leftovers, listTree, startFirmwareDaemon, type FirmwareHttp } from './http-fixtures.js';
import { sleep, until } from '../../helpers/polling.js';

/** Bytes of uploads the daemon holds in its private directory right now. */
function uploadBytes(http: FirmwareHttp): number {
  let total = 0;
  try {
    for (const dir of fs.readdirSync(http.tempParent)) {
      for (const file of listTree(path.join(http.tempParent, dir))) {
        if (path.basename(file).startsWith('upload-')) total += fs.statSync(path.join(http.tempParent, dir, file)).size;
      }
    }
  } catch {
    // A request directory was removed while it was being looked at: that sample is dropped.
    return 0;
  }
  return total;
}

t.test('uploads wait for disk room: the bytes held never pass --http-queue-bytes-max', needTools('curl', 'tar'), async (t) => {
  const budget = 250_000;
  const http = await startFirmwareDaemon(t, ['--http-upload-bytes-max', '150000', '--http-queue-bytes-max', String(budget)]);
  // Random module bytes do not compress: each upload is about 100 KB, so at most two fit at once.
  const tarball = moduleTarball(http, 'big', 1, 100_000);
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, uploadBytes(http))), 5);
  const outputs = Array.from({ length: 8 }, (_, i) => `big-${i}.tar.gz`);
  const results = await signModulesAtOnce(http, tarball, outputs, DIGSIG_POST_ARGS);
  clearInterval(sampler);
  t.same(
    outputs.filter((o) => results.get(o) !== '200 0'),
    [],
    'every upload is signed',
  );
  t.ok(peak > 0, `uploads were seen on disk (peak ${peak} bytes)`);
  t.ok(peak <= budget, `peak upload bytes on disk ${peak} <= ${budget}`);
  const waited = http.daemon.logs.filter((l) => l['msg'] === 'request' && Number(l['waitedMs']) > 0).length;
  t.ok(waited > 0, `${waited} of 8 waited for room instead of being refused`);
  t.same(await leftovers(http), []);
});

t.test('past --http-queue-max: 503 at once, Retry-After spread out; past --http-queue-ms-max: 503', needTools('curl', 'tar'), async (t) => {
  const http = await startFirmwareDaemon(t, [
    '--http-jobs-max',
    '1',
    '--http-queue-max',
    '1',
    '--http-upload-bytes-max',
    '65536',
    '--http-queue-bytes-max',
    '65536',
    '--http-queue-ms-max',
    '1000',
  ]);
  const tarball = moduleTarball(http, 'small', 1, 2000);
  const noRetry = ['--max-time', '20'];

  await t.test('count', async (t) => {
    const held = await Promise.all([stalledUpload(http, 30_000), stalledUpload(http, 30_000)]);
    t.teardown(() => held.forEach((s) => s.destroy()));
    // The two stalled uploads fill jobs-max + queue-max; wait until the daemon has admitted both.
    let first = await signModules(http, tarball, 'refused-0.tar.gz', noRetry);
    for (let i = 0; i < 50 && first.status !== 503; i++) first = await signModules(http, tarball, 'refused-0.tar.gz', noRetry);
    t.equal(first.status, 503, 'a third request is refused');
    const refusals = [first, ...(await Promise.all(Array.from({ length: 5 }, (_, i) => signModules(http, tarball, `refused-${i + 1}.tar.gz`, noRetry))))];
    const retryAfter = refusals.map((r) => Number(/^retry-after:\s*(\d+)/im.exec(r.headers)?.[1]));
    t.same(
      refusals.map((r) => r.status),
      [503, 503, 503, 503, 503, 503],
    );
    t.ok(
      retryAfter.every((s) => s >= 5 && s <= 30),
      `Retry-After within 5-30 s: ${retryAfter.join(' ')}`,
    );
    t.ok(new Set(retryAfter).size > 1, 'not one fixed value: refused builds do not all come back at the same moment');
    held.forEach((s) => s.destroy());
    t.same(await leftovers(http), [], 'the stalled uploads are dropped when their clients go');
  });

  await t.test('bytes and wait', async (t) => {
    // A stalled upload holds 64 000 of the 65 536 bytes: the next upload (about 2.5 KB) must wait.
    const held = [await stalledUpload(http, 64_000)];
    t.teardown(() => held.forEach((s) => s.destroy()));
    const started = Date.now();
    const waited = await signModules(http, tarball, 'waited.tar.gz', noRetry);
    const ms = Date.now() - started;
    t.equal(waited.status, 503, 'refused once the wait bound is reached');
    t.ok(ms >= 900 && ms < 8000, `after waiting about --http-queue-ms-max (${ms} ms)`);
    // A client that hangs up while it waits for room gives its place back at once, not after the wait bound.
    const quitter = await stalledUpload(http, 20_000);
    held.push(quitter);
    await sleep(200);
    const quit = Date.now();
    const seen = http.daemon.logs.length;
    quitter.destroy();
    const aborted = () => http.daemon.logs.slice(seen).some((l) => l['msg'] === 'request' && l['path'] === '/sign/modules' && l['outcome'] === 'BAD_REQUEST');
    await until(aborted, 3_000);
    t.ok(aborted() && Date.now() - quit < 900, `the request that waited for room ended when its client left (${Date.now() - quit} ms), before the wait bound`);
    held.forEach((s) => s.destroy());
    let ok = await signModules(http, tarball, 'after.tar.gz', noRetry);
    for (let i = 0; i < 50 && ok.status === 503; i++) ok = await signModules(http, tarball, 'after.tar.gz', noRetry);
    t.equal(ok.status, 200, 'served once the bytes are free');
  });
  t.same(await leftovers(http), []);
});
