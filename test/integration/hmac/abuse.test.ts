// Careless and hostile clients on the hmac listeners: overlong and empty lines, garbage,
// unterminated lines, too many connections, deep pipelining. Each gets a deliberate answer
// and the daemon keeps serving.
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import { exchange, request } from '../../helpers/line-client.js';
import { needTools } from '../../helpers/tools.js';
import { singleDir } from '../../unit/hmac/secret-fixtures.js';
import { randomMessage, referenceTags, startHmac } from './hmac-fixtures.js';
import { retryUntil } from '../../helpers/polling.js';

const base = t.testdir();

/** Sends bytes without closing our side; resolves with what arrived once the server closes. */
function sendOpen(port: number, data: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let out = '';
    socket.on('connect', () => socket.write(data));
    socket.on('data', (d) => (out += d.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => resolve(out));
  });
}

t.test('bad input gets one ERR line and the daemon keeps serving', needTools('python3'), async (t) => {
  const dir = singleDir(path.join(base, 's'));
  const daemon = await startHmac(['--secret-dir', dir, '--line-bytes-max', '4096', '--idle-timeout-ms', '3000', '--connections-max', '3']);
  t.teardown(() => daemon.stop());
  const [mac, verify] = [daemon.ports[0]!, daemon.ports[1]!];
  const hello = referenceTags('single', dir, [Buffer.from('hello')])[0]!.tag;

  t.same(await exchange(mac, ['x'.repeat(5000), 'hello']), ['ERR LINE_TOO_LONG line longer than 4096 bytes'], 'overlong line: ERR and close');
  t.match(await request(verify, `${'ab'.repeat(3000)} x`), /^ERR LINE_TOO_LONG /);
  t.match(await request(mac, ''), /^ERR BAD_REQUEST empty request/);
  t.match(await request(mac, ' \t '), /^ERR BAD_REQUEST empty request/, 'whitespace only');
  t.match(await request(verify, ''), /^ERR BAD_REQUEST /);
  t.equal(await request(verify, `${'ab'.repeat(1000)} hello`), 'Invalid.', 'a 1000-byte tag is just the wrong length');
  // #10: one-shot answers an unterminated request once it goes quiet, as the seed's single recv() did.
  const quiet = referenceTags('single', dir, [Buffer.from('no newline and no close')])[0]!.tag;
  t.equal(await sendOpen(mac, Buffer.from('no newline and no close')), `${quiet}\n`);

  const garbage = randomMessage(3000, 7).map((b) => (b === 0x0a ? 0x41 : b));
  const tags = await request(mac, Buffer.concat([Buffer.from([0x00, 0xff]), garbage, Buffer.from('\r\n')]));
  t.match(tags, /^[0-9a-f]{64} [0-9a-f]{64}$/, 'binary data is MACed as bytes; CRLF accepted');

  // The longest line the MAC listener takes can still be verified: the verify limit adds its tags.
  const longest = Buffer.from('v'.repeat(4096));
  const longestTags = (await request(mac, longest)).replaceAll(' ', '');
  t.match(longestTags, /^[0-9a-f]{128}$/, 'a line at the limit is MACed');
  t.equal(await request(verify, `${longestTags} ${longest}`), 'Valid.', 'and verifies (4,225-byte verify line)');
  t.match(await request(verify, `${longestTags}  ${longest}`), /^ERR LINE_TOO_LONG line longer than 4225 bytes/, 'one byte more is too long');

  const connect = (): Promise<net.Socket> =>
    new Promise((resolve) => {
      const socket = net.connect(mac, '127.0.0.1', () => resolve(socket));
    });
  const held = await Promise.all([connect(), connect(), connect()]);
  t.match(await request(mac, 'hello'), /^ERR BUSY /, 'connection cap');
  for (const s of held) s.destroy();
  // The server notices the closes asynchronously; retry briefly instead of assuming a timing.
  const again = await retryUntil(
    () => request(mac, 'hello'),
    (r) => !r.startsWith('ERR BUSY'),
    2_500,
    50,
  );
  t.equal(again, hello, 'serving again');
  t.equal(await request(verify, `${hello} hello`), 'Valid.');
});

t.test('keep-open: a line not terminated within --line-ms-max gets ERR and a close', async (t) => {
  const dir = singleDir(path.join(base, 'k'));
  const daemon = await startHmac(['--secret-dir', dir, '--keep-open', '--line-ms-max', '500']);
  t.teardown(() => daemon.stop());
  t.equal(await sendOpen(daemon.port, Buffer.from('no newline and no close')), 'ERR BAD_REQUEST line not terminated within 500 ms\n');
});

t.test('deep pipelining on one connection keeps order', needTools('python3'), async (t) => {
  const dir = singleDir(path.join(base, 'p'));
  const daemon = await startHmac(['--secret-dir', dir, '--keep-open']);
  t.teardown(() => daemon.stop());
  const messages = Array.from({ length: 3000 }, (_, i) => Buffer.from(`message number ${i}`));
  const expected = referenceTags('single', dir, messages).map((r) => r.tag);
  const replies = await exchange(
    daemon.port,
    messages.map((m) => Buffer.concat([m, Buffer.from('\n')])),
  );
  t.equal(replies.length, 3000);
  t.same(replies, expected, 'every reply in request order');
});
