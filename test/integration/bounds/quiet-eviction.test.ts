// A plaintext line listener at its connection cap gives the place of the connection quiet longest
// (nothing under way, no byte for 1 s) to a newcomer: idle sockets from one local client cannot keep
// every other client at ERR BUSY. A kept-open client that is using its connection keeps it, and
// connections all busy or fresh still mean ERR BUSY.
import t from 'tap';
import net from 'node:net';
import path from 'node:path';
import { startDaemon } from '../../helpers/daemon.js';
import { request } from '../../helpers/line-client.js';
import { makeKeys } from '../../helpers/signature-fixtures.js';
import { sleep, until } from '../../helpers/polling.js';

const dir = t.testdir();
const keys = makeKeys(dir, 'ecdsa', 'quiet-eviction');
const SIGNED = /^\(b'newcomer', b'[0-9a-f]{192}'\)$/;

interface Held {
  socket: net.Socket;
  closed: boolean;
  replies: string[];
}

function hold(port: number): Promise<Held> {
  return new Promise((resolve) => {
    const held: Held = { socket: net.connect(port, '127.0.0.1', () => resolve(held)), closed: false, replies: [] };
    held.socket.on('data', (d) => held.replies.push(...d.toString('latin1').split('\n').filter(Boolean)));
    held.socket.on('error', () => {});
    held.socket.on('close', () => (held.closed = true));
  });
}

t.test('the quietest connection gives way to a newcomer', async (t) => {
  const daemon = await startDaemon([
    'sign-ecdsa',
    '--key',
    keys.privateKeyFile,
    '--port',
    '0',
    '--state-dir',
    path.join(dir, 'state'),
    '--keep-open',
    '--connections-max',
    '3',
  ]);
  t.teardown(() => daemon.stop());
  const first = await hold(daemon.port);
  const second = await hold(daemon.port);
  const active = await hold(daemon.port);
  t.teardown(() => [first, second, active].forEach((h) => h.socket.destroy()));
  t.match(await request(daemon.port, 'newcomer'), /^ERR BUSY too many connections \(max 3\)/, 'every place taken by connections quiet for less than 1 s: BUSY');

  // The active client sends a request every 200 ms; the other two say nothing.
  let sent = 0;
  const ticker = setInterval(() => active.socket.write(`active ${++sent}\n`), 200);
  t.teardown(() => clearInterval(ticker));
  await sleep(1_300);
  t.match(await request(daemon.port, 'newcomer'), SIGNED, 'past 1 s of quiet: the newcomer is served');
  t.ok(await until(() => first.closed, 2_000), 'in the place of the connection quiet longest');
  t.notOk(second.closed, 'the other quiet one stays');
  // The newcomer's one-shot connection closed after its reply: its place is free, a fresh socket takes it.
  const third = await hold(daemon.port);
  t.teardown(() => third.socket.destroy());
  t.match(await request(daemon.port, 'newcomer'), SIGNED, 'another newcomer, with the cap reached again');
  t.ok(await until(() => second.closed, 2_000), 'takes the place of the one quiet past 1 s');
  t.notOk(third.closed, 'not the fresh one');
  t.notOk(active.closed, 'a connection in use is never the one closed');
  const before = active.replies.length;
  t.ok(await until(() => active.replies.length > before, 2_000), 'and it is still served');
  t.match(await request(daemon.port, 'newcomer'), SIGNED, 'one-shot newcomers close their own places');
});
