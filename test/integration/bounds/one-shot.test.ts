// Regression #10 §1: one-shot clients, the seed's documented usage. `echo x | nc` (netcat-openbsd,
// no -N: it never half-closes) gets its reply and the close without a fixed wait; an unterminated
// request that goes quiet is answered at once; 300 lines through `nc` and `nc -N` all get replies,
// in order. Real netcat where the behaviour is netcat's; a socket client where time is measured.
// It lives in test/integration/bounds, which .taprc runs alone: its bounds are wall-clock ones.
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { startDaemon, type RunningDaemon } from '../../helpers/daemon.js';
import { makeKeys, signaturesOf } from '../../helpers/signature-fixtures.js';
import { needTools } from '../../helpers/tools.js';
import { sleep, waitFor } from '../../helpers/polling.js';

const dir = t.testdir();
const keys = makeKeys(dir, 'ecdsa', 'one-shot');
let daemon: RunningDaemon;

t.before(async () => {
  daemon = await startDaemon(['sign-ecdsa', '--key', keys.privateKeyFile, '--port', '0', '--state-dir', path.join(dir, 'state')]);
});
t.teardown(() => daemon.stop());

/** Like nc without -N: write, never half-close; note when the reply line and when the close arrive. */
function exchangeNoHalfClose(port: number, data: string): Promise<{ reply: string; replyMs: number; closeMs: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let reply = '';
    let replyMs = NaN;
    const socket = net.connect(port, '127.0.0.1', () => socket.write(data));
    socket.on('data', (d) => {
      reply += d.toString('latin1');
      if (Number.isNaN(replyMs) && reply.includes('\n')) replyMs = performance.now() - started;
    });
    socket.on('end', () => socket.end());
    socket.on('close', () => resolve({ reply, replyMs, closeMs: performance.now() - started }));
    socket.on('error', reject);
  });
}

function nc(args: string[], input: string): string {
  return execFileSync('nc', [...args, '127.0.0.1', String(daemon.port)], { input, encoding: 'latin1', timeout: 10_000 });
}

t.test('echo x | nc: the close follows the reply at once, not after a linger', async (t) => {
  for (let i = 0; i < 5; i++) {
    const { reply, replyMs, closeMs } = await exchangeNoHalfClose(daemon.port, `x${i}\n`);
    t.match(reply, new RegExp(`^\\(b'x${i}', b'[0-9a-f]{192}'\\)\\n$`));
    t.ok(closeMs - replyMs < 50, `closed ${(closeMs - replyMs).toFixed(1)} ms after the reply (the old default lingered 100 ms)`);
  }
});

t.test('echo x | nc with real netcat exits by itself with the reply', needTools('nc'), async (t) => {
  const started = Date.now();
  const run = spawnSync('sh', ['-c', `echo mytoken | nc 127.0.0.1 ${daemon.port}`], { encoding: 'latin1', timeout: 5_000 });
  t.equal(run.status, 0);
  t.match(run.stdout, /^\(b'mytoken', b'[0-9a-f]{192}'\)\n$/);
  t.ok(Date.now() - started < 3_000, 'nc exited without waiting for a timeout');
});

t.test('an unterminated request that goes quiet is answered within 50 ms of its last byte', async (t) => {
  const { reply, replyMs } = await exchangeNoHalfClose(daemon.port, 'tok');
  t.match(reply, /^\(b'tok', b'[0-9a-f]{192}'\)\n$/, 'answered as the seed answered it (before: ERR BAD_REQUEST after 30 s)');
  // 20 ms of quiet plus one signature; the margin is for a loaded CI machine.
  t.ok(replyMs < 500, `answered after ${replyMs.toFixed(0)} ms`);
});

t.test('printf tok | nc (real netcat, no newline, no half-close) gets its signature', needTools('nc'), async (t) => {
  const run = spawnSync('sh', ['-c', `printf tok | nc 127.0.0.1 ${daemon.port}`], { encoding: 'latin1', timeout: 5_000 });
  t.match(run.stdout, /^\(b'tok', b'[0-9a-f]{192}'\)\n$/);
});

t.test('300 lines written at once get 300 replies in order, with and without -N', needTools('nc'), async (t) => {
  const lines = Array.from({ length: 300 }, (_, i) => `line-${i}`);
  for (const args of [[], ['-N']]) {
    const out = nc(args, lines.join('\n') + '\n')
      .trimEnd()
      .split('\n');
    t.equal(out.length, 300, `nc ${args.join(' ')}: 300 replies`);
    t.same(
      out.map((line) => /^\(b'([^']*)'/.exec(line)?.[1]),
      lines,
      'in order',
    );
    t.equal(signaturesOf(out.join('\n')).length, 300);
  }
});

t.test('a last line without LF after others, through nc without -N, is answered too', needTools('nc'), async (t) => {
  const out = nc([], 'first\nsecond\nlast-without-lf').trimEnd().split('\n');
  t.same(
    out.map((line) => /^\(b'([^']*)'/.exec(line)?.[1]),
    ['first', 'second', 'last-without-lf'],
  );
});

t.test('keep-open connections still take request after request', async (t) => {
  const kept = await startDaemon(['sign-ecdsa', '--key', keys.privateKeyFile, '--port', '0', '--state-dir', path.join(dir, 'state'), '--keep-open']);
  t.teardown(() => kept.stop());
  const socket = net.connect(kept.port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  let data = '';
  socket.on('data', (d) => (data += d));
  for (const word of ['one', 'two', 'three']) {
    socket.write(word + '\n');
    await waitFor(() => data.includes(`(b'${word}'`), 5_000, `the reply to ${word}`, 10);
    await sleep(150);
  }
  t.notOk(socket.destroyed, 'still open after pauses between requests');
  t.equal(signaturesOf(data).length, 3);
  socket.destroy();
});
