// mode32 at full size: 65,536 table files (sparse here, so 128 GiB costs no disk). The daemon
// keeps one descriptor per file; too low a descriptor limit must be a clear start-up error.
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { SIGNERD } from '../../helpers/daemon.js';
import { request } from '../../helpers/line-client.js';
import { TABLE_BYTES } from '../../unit/hmac/secret-fixtures.js';
import { startHmac } from './hmac-fixtures.js';

const dir = path.join(t.testdir(), 'secrets');
fs.mkdirSync(dir, { mode: 0o700 });
for (let file = 0; file < 65_536; file++) {
  // Below 0x1000 the seed's unpadded names and the README's padded ones differ: use both.
  const name = file < 0x1000 && file % 2 === 1 ? file.toString(16) : file.toString(16).padStart(4, '0');
  const fd = fs.openSync(path.join(dir, name), 'w', 0o600);
  fs.ftruncateSync(fd, TABLE_BYTES);
  fs.closeSync(fd);
}
const hardLimit = Number(execFileSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim()) || Infinity;

t.test('too few file descriptors: exit 78 naming the limit', async (t) => {
  const run = spawnSync('sh', ['-c', 'ulimit -n 4096 && exec "$0" "$@"', process.execPath, SIGNERD, 'hmac', '--mode', 'mode32', '--secret-dir', dir, '--port', '0', '--verify-port', '0'], { encoding: 'utf8' });
  t.equal(run.status, 78);
  t.match(run.stderr, /KEY_LOAD_FAILED: mode32 secret file .*: EMFILE .*LimitNOFILE/);
});

const enoughFds = hardLimit >= 65_536 + 256 ? {} : { skip: `hard descriptor limit ${hardLimit} is below 65,792 on this machine` };
t.test('the full set starts and serves (when the descriptor limit allows)', enoughFds, async (t) => {
  const daemon = await startHmac(['--mode', 'mode32', '--secret-dir', dir], false);
  t.teardown(() => daemon.stop());
  const zeroKeyTag = crypto.createHmac('sha256', Buffer.alloc(32)).update('hello world').digest('hex');
  t.equal(await request(daemon.port, 'hello world'), zeroKeyTag, 'sparse files hold zero keys');
  t.match(daemon.logs.find((l) => l['msg'] === 'secrets loaded'), { files: 65_536 });
});
