// cryptoserver's HTTP API with real clients: the seed's own Python `requests` client and curl.
// Bodies are MACed exactly as received; errors get real statuses instead of the seed's 400.
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import { murmur3x86_32 } from '../../../daemons/hmac/murmur3.js';
import { rssMb } from '../../helpers/abusive-clients.js';
import { needTools } from '../../helpers/tools.js';
import { mode32Dir, singleDir } from '../../unit/hmac/secret-fixtures.js';
import { pythonHas, referenceTags, startHmac, waitForLog } from './hmac-fixtures.js';

const base = t.testdir();

/** curl: status, then the body as hex. */
function curl(url: string, ...args: string[]): { status: number; bodyHex: string; headers: string } {
  const headerFile = path.join(base, 'headers.txt');
  const out = execFileSync('curl', ['-sS', '-o', '-', '-D', headerFile, '-w', '', ...args, url]);
  const headers = fs.readFileSync(headerFile, 'utf8');
  return { status: Number(/^HTTP\/1\.1 (\d+)/.exec(headers)?.[1]), bodyHex: out.toString('hex'), headers };
}

/** The seed's client, verbatim apart from the URL: requests.post(url, data=msg).content. */
const SEED_CLIENT = `
import sys
from requests import post
CRYPTO_SERVER_URL = sys.argv[1]
def compute(msg):
    res = post(CRYPTO_SERVER_URL, data=msg)
    if res.status_code != 200:
        raise RuntimeError("couldn't hmac data")
    return res.content
for msg in (b"hello world", b"apples and pears"):
    print(compute(msg).hex())
`;
import { waitFor } from '../../helpers/polling.js';

t.test('POST /hmac: the seed client and curl get the 32 raw tag bytes', needTools('curl', 'python3'), async (t) => {
  const dir = singleDir(path.join(base, 'single'));
  const daemon = await startHmac(['--secret-dir', dir], true);
  t.teardown(() => daemon.stop());
  const url = `http://127.0.0.1:${daemon.ports[2]}/hmac`;
  const expected = referenceTags('single', dir, [Buffer.from('hello world'), Buffer.from('apples and pears')]).map((r) => r.tag);

  const requestsMissing = pythonHas('requests') ? {} : { skip: 'python3 requests not installed (Debian: python3-requests)' };
  if (process.env['CI'] === 'true' && 'skip' in requestsMissing) throw new Error('CI: python3-requests missing');
  await t.test("the seed's requests client works unchanged", requestsMissing, async (t) => {
    const run = spawnSync('python3', ['-c', SEED_CLIENT, url], { encoding: 'utf8' });
    t.equal(run.status, 0, run.stderr);
    t.same(run.stdout.trim().split('\n'), expected);
  });

  const body = Buffer.from('  leading and trailing spaces and a newline are MACed as sent\n');
  const bodyFile = path.join(base, 'body.bin');
  fs.writeFileSync(bodyFile, body);
  const reply = curl(url, '--data-binary', `@${bodyFile}`);
  t.equal(reply.status, 200);
  t.match(reply.headers, /content-type: application\/octet-stream/i);
  t.equal(reply.bodyHex, referenceTags('single', dir, [body])[0]!.tag, 'raw body, no trimming');
  t.equal(curl(url + '?ignored=1', '--data-binary', 'hello world').bodyHex, expected[0], 'query string ignored, as the seed did');
});

t.test('statuses: 404, 405, 400, 413, 503', needTools('curl'), async (t) => {
  const present = 'bd33';
  const dir = mode32Dir(path.join(base, 'm32'), [present]);
  const daemon = await startHmac(['--mode', 'mode32', '--mode32-files', 'present', '--secret-dir', dir, '--http-body-bytes-max', '4096'], true);
  t.teardown(() => daemon.stop());
  const root = `http://127.0.0.1:${daemon.ports[2]}`;
  t.equal(curl(`${root}/hmac`, '--data-binary', 'hello world').status, 200, 'file bd33 is installed');
  const get = curl(`${root}/hmac`);
  t.equal(get.status, 405);
  t.match(get.headers, /allow: POST/i);
  t.match(get.headers, /\r\nx-signerd-error-code: METHOD_NOT_ALLOWED\r\n/i, 'the code is in its header too');
  t.equal(curl(`${root}/hmac`, '-X', 'PUT', '--data-binary', 'x').status, 405);
  t.equal(curl(`${root}/other`, '--data-binary', 'x').status, 404);
  t.equal(curl(`${root}/hmac/`, '--data-binary', 'x').status, 404);
  t.equal(curl(`${root}/hmac`, '-X', 'POST').status, 400, 'empty body');
  const bigFile = path.join(base, 'big.bin');
  fs.writeFileSync(bigFile, crypto.randomBytes(5000));
  t.equal(curl(`${root}/hmac`, '--data-binary', `@${bigFile}`).status, 413);
  let other = 0;
  while (murmur3x86_32(Buffer.from(`m${other}`)) >>> 16 === 0xbd33) other++;
  const missing = curl(`${root}/hmac`, '--data-binary', `m${other}`);
  t.equal(missing.status, 503, 'a secret file that is not installed: 503 (the seed: 400)');
  t.match(missing.headers, /\r\nx-signerd-error-code: BACKEND_UNAVAILABLE\r\n/i);
  t.match(Buffer.from(missing.bodyHex, 'hex').toString(), /^ERR BACKEND_UNAVAILABLE secret file [0-9a-f]{4} is not installed/);
  t.equal(curl(`${root}/hmac`, '--data-binary', 'hello world').status, 200, 'still serving');
});

t.test('many connections: past the cap 503 BUSY, and large bodies sent at once do not grow memory', needTools('curl'), async (t) => {
  const dir = singleDir(path.join(base, 'crowd'));
  const daemon = await startHmac(['--secret-dir', dir, '--connections-max', '300'], true);
  t.teardown(() => daemon.stop());
  const port = daemon.ports[2]!;
  const root = `http://127.0.0.1:${port}`;
  const open = (): Promise<net.Socket> =>
    new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
      socket.on('error', reject);
    });

  // 300 idle connections hold every place: one more gets its 503 (curl's view), not a reset.
  const idle = await Promise.all(Array.from({ length: 300 }, open));
  const refused = curl(`${root}/hmac`, '--data-binary', 'hello world');
  t.equal(refused.status, 503, 'past the connection cap: 503');
  t.match(refused.headers, /\r\nx-signerd-error-code: BUSY\r\n/i);
  t.match(refused.headers, /\r\nretry-after: 1\r\n/i);
  t.match(await waitForLog(daemon, 'connection refused', 0), { level: 'warn', outcome: 'BUSY' }, 'the refusal is logged');
  idle.forEach((socket) => socket.destroy());

  // 300 clients each send all but the last byte of a 1 MiB body and wait: 300 MiB offered, at most
  // 16 MiB of it held; the bodies past that are refused (503 BUSY, connection closed).
  const replies: string[] = [];
  const crowd = await Promise.all(
    Array.from({ length: 300 }, async (_, i) => {
      const socket = await until(async () => open().catch(() => null));
      socket.on('data', (d: Buffer) => (replies[i] = (replies[i] ?? '') + d.toString('latin1')));
      socket.on('error', () => undefined);
      socket.write('POST /hmac HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n');
      socket.write(Buffer.alloc(1048575, 0x61));
      return socket;
    }),
  );
  t.teardown(() => crowd.forEach((socket) => socket.destroy()));
  const busy = await until(() => {
    const found = replies.filter((r) => r?.startsWith('HTTP/1.1 503'));
    return found.length >= 280 ? found : null;
  });
  t.ok(busy.length >= 280, `${busy.length} bodies past the budget refused`);
  t.match(busy[0], /\r\nx-signerd-error-code: BUSY\r\n/i);
  const rss = rssMb(daemon.proc.pid!);
  t.ok(rss < 200, `RSS ${rss.toFixed(0)} MB < 200 MB with 300 MiB of bodies offered`);
  t.equal(curl(`${root}/hmac`, '--data-binary', 'hello world').status, 200, 'a normal request is served beside them');
});

/** Polls `probe` until it gives a value (at most 10 s). */
function until<T>(probe: () => T | null | Promise<T | null>): Promise<T> {
  return waitFor(probe, 10_000, 'the condition');
}
