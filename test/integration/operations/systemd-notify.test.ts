// systemd readiness (Type=notify) without systemd as PID 1 here: a fake NOTIFY_SOCKET (a Python
// datagram receiver that, like systemd, closes the barrier descriptor systemd-notify sends) must get
// READY=1 only once every readiness part passed, from an in-process daemon whose part fails first,
// and from a real sign daemon once it is ready.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DaemonError } from '../../../lib/errors.js';
import { startOperations } from '../../../lib/operations/operations.js';
import { startDaemon } from '../../helpers/daemon.js';
import { memoryLog } from '../../helpers/memory-log.js';
import { waitUntil } from '../../helpers/operations.js';
import { makeKeys } from '../../helpers/signature-fixtures.js';
import { needTools } from '../../helpers/tools.js';

const dir = t.testdir();

/** Prints each datagram; closes descriptors passed with one (systemd-notify's barrier waits for that). */
const RECEIVER = `
import array, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
while True:
    msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(64))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array('i')
            fds.frombytes(data[: len(data) - len(data) % 4])
            for fd in fds:
                os.close(fd)
    sys.stdout.write(msg.decode() + '\\n')
    sys.stdout.flush()
`;
import { sleep } from '../../helpers/polling.js';

/** A fake notify socket: every datagram it receives, as text. */
async function fakeNotifySocket(name: string): Promise<{ socket: string; received: () => string; proc: ChildProcess }> {
  // A socket path must fit in 108 bytes: the test directory's may not.
  const short = fs.mkdtempSync(path.join(os.tmpdir(), 'sdn-'));
  t.teardown(() => fs.rmSync(short, { recursive: true, force: true }));
  const socket = path.join(short, name);
  const proc = spawn('python3', ['-c', RECEIVER, socket], { stdio: ['ignore', 'pipe', 'inherit'] });
  let received = '';
  proc.stdout!.on('data', (d: Buffer) => (received += d.toString()));
  await waitUntil(async () => fs.existsSync(socket), 2_000, 'receiver bound');
  return { socket, received: () => received, proc };
}

t.test('READY=1 only once every part is ready', needTools('python3', 'systemd-notify'), async (t) => {
  const fake = await fakeNotifySocket('inproc.sock');
  t.teardown(() => void fake.proc.kill());
  const { log, lines } = memoryLog('test');
  const saved = process.env['NOTIFY_SOCKET'];
  process.env['NOTIFY_SOCKET'] = fake.socket;
  t.teardown(() => (saved === undefined ? delete process.env['NOTIFY_SOCKET'] : (process.env['NOTIFY_SOCKET'] = saved)));
  const ops = await startOperations('test', { operations: null, policy: { channel: null, insecurePlaintext: false } }, log, null);
  t.teardown(() => ops.stop());
  let up = false;
  ops.addPart({
    name: 'flaky',
    intervalMs: 50,
    probe: async () => {
      if (!up) throw new DaemonError('BACKEND_UNAVAILABLE', 'token away');
    },
  });
  ops.serving();
  await sleep(300);
  t.equal(fake.received(), '', 'nothing sent while a part is not ready');
  up = true;
  await waitUntil(async () => fake.received().includes('READY=1'), 2_000, 'READY=1');
  t.match(fake.received(), /^READY=1\nSTATUS=ready/);
  t.ok(lines.findIndex((l) => l['msg'] === 'ready') >= 0, 'the log says ready');
});

t.test('a sign daemon tells systemd once it is ready', needTools('python3', 'systemd-notify'), async (t) => {
  const fake = await fakeNotifySocket('daemon.sock');
  t.teardown(() => void fake.proc.kill());
  const keys = makeKeys(dir, 'ecdsa', 'notify');
  const sign = await startDaemon(['sign-ecdsa', '--key', keys.privateKeyFile, '--state-dir', path.join(dir, 'state'), '--port', '0'], {
    env: { NOTIFY_SOCKET: fake.socket },
  });
  t.teardown(() => sign.stop());
  await waitUntil(async () => fake.received().includes('READY=1'), 3_000, 'READY=1');
  await waitUntil(async () => sign.logs.some((l) => l['msg'] === 'told systemd: ready'), 2_000, 'logged');
  const order = ['listening', 'ready', 'told systemd: ready'].map((msg) => sign.logs.findIndex((l) => l['msg'] === msg));
  t.ok(
    order.every((i, n) => i >= 0 && (n === 0 || i > order[n - 1]!)),
    'listening, then ready, then READY=1',
  );
});
