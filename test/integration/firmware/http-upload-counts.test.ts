// signerd_firmware_uploads_total counts each upload once, with the outcome its client was given and
// its record has: a deadline's 504 as BACKEND_TIMEOUT (not as the work's later end), and refusals
// before the work (413, 503 from a full queue) too.
import t from 'tap';
import { needTools } from '../../helpers/tools.js';
import { get, metricsPortOf, sample } from '../../helpers/operations.js';
import { until } from '../../helpers/polling.js';
import { moduleTarball, signModules, stalledUpload } from './build-clients.js';
import { leftovers, startFirmwareDaemon } from './http-fixtures.js';

t.test('uploads are counted with the outcome they were answered with', needTools('curl', 'tar'), async (t) => {
  const http = await startFirmwareDaemon(t, [
    '--metrics-port',
    '0',
    '--http-processing-ms-max',
    '100',
    '--http-jobs-max',
    '1',
    '--http-queue-max',
    '0',
    '--http-upload-bytes-max',
    '10000000',
  ]);
  const once = ['--max-time', '30'];
  const count = async (outcome: string): Promise<number | null> =>
    sample((await get(metricsPortOf(http.daemon), '/metrics')).body, 'signerd_firmware_uploads_total', { format: 'modules', outcome });

  // 413: declared larger than --http-upload-bytes-max, refused before a byte of it is read.
  const tooLarge = await stalledUpload(http, 20_000_000);
  let reply = '';
  tooLarge.on('data', (d: Buffer) => (reply += d.toString('latin1')));
  await until(() => reply.includes('\r\n\r\n'), 5_000, 10);
  tooLarge.destroy();
  t.match(reply, /^HTTP\/1\.1 413 /, '413');

  // 504: 5 MB of modules take far longer to sign than 100 ms; the work still ends well (then 'ok' was counted).
  const slow = await signModules(http, moduleTarball(http, 'slow', 100, 50_000), 'slow.tar.gz', once);
  t.equal(slow.status, 504, '504 past --http-processing-ms-max');
  t.same(await leftovers(http), [], 'the abandoned work has ended');

  // 503: the one job slot held by a stalled upload, no queue.
  const held = await stalledUpload(http, 64_000);
  t.teardown(() => held.destroy());
  const small = moduleTarball(http, 'small', 1, 2_000);
  let busy = await signModules(http, small, 'busy.tar.gz', once);
  for (let i = 0; i < 50 && busy.status !== 503; i++) busy = await signModules(http, small, 'busy.tar.gz', once);
  t.equal(busy.status, 503, '503 while the slot is taken');
  held.destroy();

  // Each record is written once its reply is out: the last may come just after the client has it.
  const logged = (outcome: string) => http.daemon.logs.some((l) => l['msg'] === 'request' && l['outcome'] === outcome);
  await until(() => logged('BUSY'), 5_000, 10);
  const records = http.daemon.logs.filter((l) => l['msg'] === 'request' && l['path'] === '/sign/modules');
  t.equal(records.filter((r) => r['outcome'] === 'BACKEND_TIMEOUT').length, 1, 'one BACKEND_TIMEOUT record');
  t.equal(await count('BACKEND_TIMEOUT'), 1, 'the 504 is counted as BACKEND_TIMEOUT');
  t.equal(await count('ok'), null, 'and not as ok when its work ended');
  t.equal(await count('PAYLOAD_TOO_LARGE'), 1, 'the 413 is counted');
  const busyRecords = records.filter((r) => r['outcome'] === 'BUSY').length;
  t.ok(busyRecords >= 1, `${busyRecords} BUSY records`);
  t.equal(await count('BUSY'), busyRecords, 'every 503 BUSY is counted');
});
