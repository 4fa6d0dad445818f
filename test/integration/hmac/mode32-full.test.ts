// mode32 at full size: 65,536 table files of 2 MiB served under the systemd template's descriptor
// limit (LimitNOFILE=4096), and a limit too low for mode32's key reads as a clear start-up error.
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { SIGNERD } from '../../helpers/daemon.js';
import { exchange, request } from '../../helpers/line-client.js';
import { needTools } from '../../helpers/tools.js';
import { MODE32_FILES_OPEN_MAX } from '../../../daemons/hmac/mode32-files.js';
import { murmur3x86_32 } from '../../../daemons/hmac/murmur3.js';
import { TABLE_BYTES } from '../../unit/hmac/secret-fixtures.js';
import { randomMessage, referenceTags, startHmac, waitForLog } from './hmac-fixtures.js';
import { waitFor } from '../../helpers/polling.js';

/** The descriptor limit of systemd/signerd@.service, which mode32 must run under. */
const TEMPLATE_NOFILE = 4096;
/** Distinct random tables the 65,536 names link to: a prime, so neighbouring file numbers differ. */
const TABLES = 7;

const opts = needTools('prlimit', 'python3', 'mkfifo');
const base = t.testdir();
const dir = path.join(base, 'secrets');
const messages = [
  Buffer.from('hello world'),
  Buffer.from('apples and pears'),
  Buffer.from('mytoken'),
  Buffer.alloc(32),
  lowFileMessage(),
  ...Array.from({ length: 800 }, (_, i) => randomMessage(64, i)),
];

/**
 * 65,536 names (below 0x1000, odd ones unpadded as the seed names them) as hard links to 7 random
 * tables; the messages checked one by one get tables of their own. Creating 65,536 files of their
 * own took 1.3-11 s on this VM's ext4 (journal contention); links take ~0.7 s.
 */
function writeFullSet(): number {
  const started = Date.now();
  fs.mkdirSync(dir, { mode: 0o700 });
  const tables = path.join(base, 'tables');
  fs.mkdirSync(tables, { mode: 0o700 });
  const tableFiles = Array.from({ length: TABLES }, (_, i) => {
    const file = path.join(tables, String(i));
    fs.writeFileSync(file, crypto.randomBytes(TABLE_BYTES), { mode: 0o600 });
    return file;
  });
  const own = new Set(messages.slice(0, 5).map((m) => murmur3x86_32(m) >>> 16));
  for (let file = 0; file < 65_536; file++) {
    const name = file < 0x1000 && file % 2 === 1 ? file.toString(16) : file.toString(16).padStart(4, '0');
    if (own.has(file)) fs.writeFileSync(path.join(dir, name), crypto.randomBytes(TABLE_BYTES), { mode: 0o600 });
    else fs.linkSync(tableFiles[file % TABLES]!, path.join(dir, name));
  }
  return Date.now() - started;
}

/** A message whose file number is below 0x1000 and odd: its file has the seed's unpadded name. */
function lowFileMessage(): Buffer {
  for (let i = 0; ; i++) {
    const m = Buffer.from(`low-file-${i}`);
    const file = murmur3x86_32(m) >>> 16;
    if (file < 0x1000 && file % 2 === 1) return m;
  }
}

const writtenMs = writeFullSet();
const openFds = (pid: number): number => fs.readdirSync(`/proc/${pid}/fd`).length;
const softNofile = (pid: number): number => Number(/^Max open files\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/limits`, 'utf8'))?.[1]);

t.test('the full set serves under the template descriptor limit (4,096)', opts, async (t) => {
  t.comment(`65,536 secret files written in ${writtenMs} ms`);
  // Soft and hard, as LimitNOFILE= and ulimit -n set them (Node raises its soft limit to the hard
  // one at start). Children inherit it: the daemon starts under it.
  execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${TEMPLATE_NOFILE}:${TEMPLATE_NOFILE}`]);
  const daemon = await startHmac(['--mode', 'mode32', '--secret-dir', dir]);
  t.teardown(() => daemon.stop());
  const pid = daemon.proc.pid!;
  t.equal(softNofile(pid), TEMPLATE_NOFILE, 'the daemon runs with the template limit');
  t.match(
    daemon.logs.find((l) => l['msg'] === 'secrets loaded'),
    { mode: 'mode32', files: 65_536, mode32Files: 'all' },
  );

  const expected = referenceTags('mode32', dir, messages).map((e) => e.tag);
  const zeroKeyTag = crypto.createHmac('sha256', Buffer.alloc(32)).update('hello world').digest('hex');
  t.not(await request(daemon.port, 'hello world'), zeroKeyTag, 'real keys, not holes');
  t.equal(await request(daemon.port, 'hello world'), expected[0], 'file bd33, index 25820');

  // 8 connections × 100 messages: far more key reads at once than files may be open.
  const idle = openFds(pid);
  let peak = idle;
  const sampler = setInterval(() => (peak = Math.max(peak, openFds(pid))), 2);
  const line = (m: Buffer): Buffer => Buffer.concat([m, Buffer.from('\n')]);
  const groups = Array.from({ length: 8 }, (_, g) => messages.filter((_, i) => i % 8 === g));
  const replies = await Promise.all(groups.map((group) => exchange(daemon.port, group.map(line))));
  clearInterval(sampler);
  t.same(
    replies,
    groups.map((_, g) => expected.filter((_, i) => i % 8 === g)),
    `${messages.length} tags equal the Python reference`,
  );
  t.ok(
    peak <= idle + 8 + MODE32_FILES_OPEN_MAX,
    `at most ${MODE32_FILES_OPEN_MAX} secret files open beside the connections (sampled peak ${peak}, idle ${idle})`,
  );
  await waitFor(() => openFds(pid) <= idle, 5_000, 'descriptors back to idle after the burst', 10);
  const verdicts = await exchange(
    daemon.ports[1]!,
    messages.slice(0, 50).map((m, i) => line(Buffer.concat([Buffer.from(`${expected[i]} `), m]))),
  );
  t.same(
    verdicts,
    messages.slice(0, 50).map(() => 'Valid.'),
    'the verify listener agrees',
  );

  // A reload checks all 65,536 files again and needs no more descriptors than serving does.
  const from = daemon.logs.length;
  daemon.proc.kill('SIGHUP');
  t.match(await waitForLog(daemon, 'secrets reloaded', from, 30_000), { files: 65_536 });
  t.equal(await request(daemon.port, 'mytoken'), expected[2], 'serves after the reload');
});

t.test('too few file descriptors: exit 78 naming the limit', opts, async (t) => {
  // While signerd loads, Node's module loader holds ~70 descriptors at once: more than a limit
  // below mode32's need (what signerd holds afterwards, ~20, plus 64) leaves room for. So signerd
  // starts under the normal limit and waits, reading its --config from a FIFO; the limit is then
  // lowered to 32 above what it holds, and the config written.
  const fifo = path.join(base, 'config.fifo');
  execFileSync('mkfifo', ['-m', '600', fifo]);
  const proc = spawn(process.execPath, [SIGNERD, 'hmac', '--config', fifo, '--mode', 'mode32', '--secret-dir', dir, '--port', '0', '--verify-port', '0'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', resolve));
  t.teardown(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  let writer = -1;
  await waitFor(
    () => {
      try {
        writer = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
        return true;
      } catch {
        return false; // ENXIO: signerd has not opened its config yet
      }
    },
    15_000,
    'signerd reads its --config',
    10,
  );
  const lowered = openFds(proc.pid!) + MODE32_FILES_OPEN_MAX / 2;
  execFileSync('prlimit', ['--pid', String(proc.pid), `--nofile=${lowered}:${lowered}`]);
  fs.writeSync(writer, '{}');
  fs.closeSync(writer);
  t.equal(await exited, 78);
  t.match(stderr, /KEY_LOAD_FAILED: mode32 secret file .*: EMFILE .*LimitNOFILE/);
});
