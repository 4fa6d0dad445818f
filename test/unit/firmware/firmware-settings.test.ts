// The firmware options as the daemon reads them: defaults, the queue's byte budget checked
// against the largest upload, and a connection cap that never bites before the queue does.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { Command } from '@commander-js/extra-typings';
import { addListenOptions } from '../../../lib/config/daemon-options.js';
import { addFirmwareOptions, firmwareSettings } from '../../../daemons/firmware/firmware-settings.js';
import { DEFAULT_FIRMWARE_HTTP_LIMITS } from '../../../daemons/firmware/firmware-limits.js';
import { codeOf } from '../../helpers/error-codes.js';

function settings(args: string[]) {
  const cmd = addFirmwareOptions(addListenOptions(new Command('firmware'), 9998)).exitOverride();
  cmd.parse(['--key-root', '/nonexistent', ...args], { from: 'user' });
  return firmwareSettings(cmd.opts());
}

t.test('defaults', async (t) => {
  const limits = settings([]).http!.limits;
  t.same(limits, DEFAULT_FIRMWARE_HTTP_LIMITS);
  t.ok(limits.connectionsMax > limits.jobsMax + limits.queueMax, 'room for /health beyond the requests let in');
});

t.test('queue options', async (t) => {
  const limits = settings([
    '--http-jobs-max',
    '8',
    '--http-queue-max',
    '500',
    '--http-queue-bytes-max',
    '700000000',
    '--http-queue-ms-max',
    '0',
    '--http-idle-ms-max',
    '5000',
  ]).http!.limits;
  t.match(limits, { jobsMax: 8, queueMax: 500, queueBytesMax: 700_000_000, queueMsMax: 0, idleMsMax: 5000 });
  t.equal(limits.connectionsMax, 8 + 500 + 64, 'the connection cap grows with the queue');
  t.equal(
    codeOf(() => settings(['--http-queue-bytes-max', '1000'])),
    'CONFIG_INVALID',
    'a byte budget below one upload',
  );
  t.equal(settings(['--http-upload-bytes-max', '1000', '--http-queue-bytes-max', '1000']).http!.limits.queueBytesMax, 1000);
  t.equal(settings(['--no-http']).http, null);
});

t.test('the key root is required; directories are checked at start-up', async (t) => {
  const cmd = addFirmwareOptions(addListenOptions(new Command('firmware'), 9998)).exitOverride();
  cmd.parse([], { from: 'user' });
  t.equal(
    codeOf(() => firmwareSettings(cmd.opts())),
    'CONFIG_INVALID',
    'no --key-root',
  );
  t.equal(
    codeOf(() => settings(['--http-temp-dir', '/nonexistent/tmp'])),
    'CONFIG_INVALID',
    'a missing --http-temp-dir',
  );
  t.equal(
    codeOf(() => settings(['--mender-artifact-root', '/nonexistent/artifacts'])),
    'CONFIG_INVALID',
    'a missing --mender-artifact-root',
  );
  t.equal(settings(['--no-http', '--mender-artifact-root', '/nonexistent/artifacts']).http, null, 'not checked when HTTP is off');
});

t.test('--http-temp-dir: nobody else may rename in it (or above it) unless it is sticky', async (t) => {
  const base = fs.realpathSync(t.testdir({ open: {}, sticky: {}, mine: {}, wide: { inner: {} }, links: {} }));
  const at = (...p: string[]): string => path.join(base, ...p);
  fs.chmodSync(at('open'), 0o777);
  fs.chmodSync(at('sticky'), 0o1777);
  fs.chmodSync(at('mine'), 0o700);
  fs.chmodSync(at('wide'), 0o775);
  fs.chmodSync(at('links'), 0o777);
  fs.symlinkSync(at('mine'), at('links', 'tmp'));
  const tempDir = (dir: string): string | undefined => settings(['--http-temp-dir', dir]).http?.tempDir;
  t.equal(
    codeOf(() => tempDir(at('open'))),
    'KEY_FILE_INSECURE',
    'mode 0777: others could move the upload directory away',
  );
  t.equal(
    codeOf(() => tempDir(at('wide', 'inner'))),
    'KEY_FILE_INSECURE',
    'under a group-writable directory',
  );
  t.equal(
    codeOf(() => tempDir(at('links', 'tmp'))),
    'KEY_FILE_INSECURE',
    'a link to it in a directory others may write in',
  );
  t.equal(tempDir(at('sticky')), at('sticky'), 'mode 1777 (as /tmp) is accepted');
  t.equal(tempDir(at('mine')), at('mine'), 'mode 0700 is accepted');
  if (fs.statSync('/tmp').mode & 0o1000) t.equal(tempDir('/tmp'), '/tmp', '/tmp itself');
  if (process.getuid?.() === 0) {
    fs.chownSync(at('mine'), 65534, 65534);
    t.equal(
      codeOf(() => tempDir(at('mine'))),
      'KEY_FILE_INSECURE',
      "another user's (not root's) directory",
    );
  }
});
