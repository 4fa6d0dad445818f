// Hostile and careless clients: binary garbage, a 10 MB line without a newline, thousands of
// idle connections, abrupt resets. Each gets a deliberate answer; the daemon keeps serving with
// bounded memory.
import t from 'tap';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import crypto from 'node:crypto';
import { startDaemon } from '../../helpers/daemon.js';
import { request } from '../../helpers/line-client.js';
import { VALID, makeKeys, signaturesOf } from '../../helpers/signature-fixtures.js';
import { sleep } from '../../helpers/polling.js';

const dir = t.testdir();

function rssKb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

/** Sends bytes, reads until the server closes; resolves with what came back. */
function sendRaw(port: number, data: Buffer, end = true): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let out = '';
    socket.on('connect', () => (end ? socket.end(data) : socket.write(data)));
    socket.on('data', (d) => (out += d.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => resolve(out));
  });
}

t.test('bad input never stops the daemon', async (t) => {
  const keys = makeKeys(dir, 'ecdsa', 'abuse');
  const state = ['--state-dir', path.join(dir, 'state')];
  const signer = await startDaemon([
    'sign-ecdsa',
    '--key',
    keys.privateKeyFile,
    '--port',
    '0',
    '--connections-max',
    '1000',
    '--idle-timeout-ms',
    // Long enough that the first idle connections are still open when the 2,000th has connected on
    // a loaded CI machine (2 s was not, once; a later run took 1.7 s to open them) and a second more
    // has passed: the cap is only tested while all 1,000 are held.
    '8000',
    ...state,
  ]);
  const verifier = await startDaemon(['verify-ecdsa', '--keyring', keys.publicKeyFile, '--port', '0', ...state]);
  t.teardown(async () => {
    await signer.stop();
    await verifier.stop();
  });
  const pid = signer.proc.pid!;
  const rssBefore = rssKb(pid);

  await t.test('binary garbage is signed as bytes, or refused as non-hex by verify', async (t) => {
    const garbage = crypto.randomBytes(1500).map((b) => (b === 0x0a ? 0x00 : b));
    const reply = await sendRaw(signer.port, Buffer.concat([garbage, Buffer.from('\n')]));
    // Python's repr picks double quotes when the bytes hold ' but no " (about 1 run in 350 here).
    t.match(reply, /^\(b(['"]).*\1, b'[0-9a-f]{192}'\)\n$/s);
    t.equal(signaturesOf(reply).length, 1, 'one signature, found by the repr-aware parser');
    t.match(await sendRaw(verifier.port, Buffer.concat([garbage, Buffer.from('\n')])), /^ERR BAD_REQUEST [^\n]*\n$/);
  });

  await t.test('a 10 MB line without newline gets ERR LINE_TOO_LONG and a close', async (t) => {
    const reply = await sendRaw(signer.port, Buffer.alloc(10 * 1024 * 1024, 0x61), false);
    t.match(reply, /^ERR LINE_TOO_LONG [^\n]*\n$/);
    t.match(await request(signer.port, 'still-serving'), /^\(b'still-serving'/);
  });

  await t.test('thousands of idle connections: past the cap the quietest gives way; idle ones are closed; service continues', async (t) => {
    const idle: net.Socket[] = [];
    // Each socket's close is awaited from its creation: refused ones close at once, idle ones later.
    const closings: Array<Promise<unknown>> = [];
    const started = Date.now();
    // In batches below the listen backlog (511): an overflowing accept queue drops handshakes, and an
    // idle client would then hold a connection the server never saw, which proves nothing.
    for (let batch = 0; batch < 8; batch++) {
      await Promise.all(
        Array.from(
          { length: 250 },
          () =>
            new Promise<void>((resolve) => {
              const s = net.connect(signer.port, '127.0.0.1', () => resolve());
              s.on('error', () => {});
              // Idle but reading: a client that never reads would never see the daemon's FIN.
              s.resume();
              closings.push(new Promise((r) => s.once('close', r)));
              idle.push(s);
            }),
        ),
      );
    }
    // Connections quiet for a second give their places to newcomers (during the flood too, once its
    // first ones are that old); ERR BUSY for every place held by fresh or busy connections is
    // bounds/quiet-eviction.test.ts.
    await sleep(1_200);
    const held = idle.filter((s) => !s.destroyed && s.readyState === 'open').length;
    t.ok(held >= 990, `the cap is held by idle connections (${held} open; flood opened in ${Date.now() - started} ms)`);
    t.match(await request(signer.port, 'one too many'), /^\(b'one too many'/, 'past the cap, a newcomer takes the place of the quietest');
    const refusedLines = signer.logs.filter((l) => l['msg'] === 'connection refused' || l['msg'] === 'connections refused');
    t.ok(refusedLines.length < 10, `a flood of refusals is summarised, not logged one by one (${refusedLines.length} lines)`);
    await Promise.all(closings);
    t.pass('idle connections were closed by the idle timeout');
    t.match(await request(signer.port, 'after the flood'), /^\(b'after the flood'/);
  });

  await t.test('thousands of idle connections opened and dropped', async (t) => {
    for (let round = 0; round < 5; round++) {
      const sockets = await Promise.all(
        Array.from(
          { length: 250 },
          () =>
            new Promise<net.Socket>((resolve) => {
              const s = net.connect(signer.port, '127.0.0.1', () => resolve(s));
              s.on('error', () => {});
            }),
        ),
      );
      for (const s of sockets) s.destroy();
    }
    await sleep(300);
    t.match(await request(signer.port, 'after 1250'), /^\(b'after 1250'/);
  });

  await t.test('abrupt resets mid-request leave nothing half-done', async (t) => {
    for (let i = 0; i < 50; i++) {
      const s = net.connect(signer.port, '127.0.0.1', () => {
        s.write(i % 2 ? `half a line ${i}` : `full line ${i}\n`);
        s.resetAndDestroy();
      });
      s.on('error', () => {});
    }
    await sleep(500);
    const reply = await request(signer.port, 'after resets');
    const sig = signaturesOf(reply)[0]!;
    t.equal(await request(verifier.port, sig), VALID.ecdsa);
  });

  const rssAfter = rssKb(pid);
  t.ok(rssAfter - rssBefore < 150 * 1024, `memory stays bounded (RSS ${rssBefore} kB → ${rssAfter} kB)`);
});
