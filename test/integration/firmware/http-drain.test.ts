// SIGTERM while an upload is being signed: past --drain-ms-max the request is answered and logged
// SHUTTING_DOWN at once, though its work goes on; the work's later end adds no second record.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { needTools } from '../../helpers/tools.js';
import { until } from '../../helpers/polling.js';
import { moduleTarball, signModules } from './build-clients.js';
import { startFirmwareDaemon, type FirmwareHttp } from './http-fixtures.js';

/** Whether the modules route has begun writing its signed tarball: the upload is in, its work under way. */
function signing(http: FirmwareHttp): boolean {
  for (const dir of fs.readdirSync(http.tempParent))
    for (const req of fs.readdirSync(path.join(http.tempParent, dir)))
      if (fs.existsSync(path.join(http.tempParent, dir, req, 'signed-artifact.tar.gz'))) return true;
  return false;
}

t.test('an upload still being signed at the drain deadline: one SHUTTING_DOWN record, at the deadline', needTools('curl', 'tar'), async (t) => {
  const http = await startFirmwareDaemon(t, ['--drain-ms-max', '100']);
  // 30 MB of modules: signing them takes seconds, past the deadline, the grace after it (1 s) and
  // the 2 s the daemon then waits for requests in flight, after which it exits without them.
  const tarball = moduleTarball(http, 'many', 300, 100_000);
  const posted = signModules(http, tarball, 'out.tar.gz', ['--max-time', '30']);
  await until(() => signing(http), 10_000, 10);
  const stopped = Date.now();
  const exited = http.daemon.stop();
  const records = () => http.daemon.logs.filter((l) => l['msg'] === 'request' && l['path'] === '/sign/modules');
  await until(() => records().length > 0, 3_000, 10);
  const loggedAfter = Date.now() - stopped;
  const reply = await posted;
  await exited;
  t.same(
    records().map((r) => [r['outcome'], r['status']]),
    [['SHUTTING_DOWN', 503]],
    'one record, SHUTTING_DOWN, and the 503 it was answered with',
  );
  t.equal(reply.status, 503, 'the client is told the daemon stopped, not left with an empty reply');
  t.ok(loggedAfter < 1_500, `logged at the deadline (${loggedAfter} ms after SIGTERM), not when the work ended`);
});
