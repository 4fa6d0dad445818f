// The one HTTP server (lib/server/serve-http.ts) in-process on a real loopback socket, with small
// services: every answer with a retryable code carries Retry-After (the service's own value kept),
// every request leaves one `request` record shaped like the line server's, and upload routes get a
// streamed form in a private directory that is gone once the reply is sent.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import t, { type Test } from 'tap';
import { DaemonError } from '../../../lib/errors.js';
import { HTTP_STATUS } from '../../../lib/protocol/http-status.js';
import type { HttpService } from '../../../lib/server/http-service.js';
import type { ListenerLoad } from '../../../lib/server/listener-metrics.js';
import { startHttpServer } from '../../../lib/server/serve-http.js';
import { memoryLog } from '../../helpers/memory-log.js';
import { sleep, waitFor } from '../../helpers/polling.js';
import { needTools } from '../../helpers/tools.js';

/** Plain HTTP on loopback, as a daemon without --tls-cert serves it. */
const PLAINTEXT = { channel: null, policy: { channel: null, insecurePlaintext: false } };
const LIMITS = { connectionsMax: 16, drainMsMax: 1_000, httpBodyBytesMax: 1024, httpRequestMsMax: 5_000 };

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request; on a connection of its own unless `agent` keeps connections alive. */
function send(
  port: number,
  method: string,
  path: string,
  body?: Buffer,
  headers: Record<string, string> = {},
  agent: http.Agent | false = false,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Polls `probe` until it gives a value (at most 5 s). */
function until<T>(probe: () => T | null | Promise<T | null>): Promise<T> {
  return waitFor(probe, 5_000, 'the condition', 10);
}

/** A service that fails with the code named by the path (`/fail/BUSY`), or echoes the body's length. */
const errorsService: HttpService = {
  async handle(req, ctx) {
    ctx.fields['bytes'] = req.body.length;
    const code = /^\/fail\/([A-Z_]+)$/.exec(req.path)?.[1];
    if (code === 'OWN_RETRY') throw new DaemonError('BUSY', 'busy, with the service’s own Retry-After');
    if (code) throw new DaemonError(code as 'BUSY', `failed with ${code}`);
    return { status: 200, body: String(req.body.length) };
  },
  formatError(err) {
    const headers: Record<string, string> = err.message.includes('own Retry-After') ? { 'Retry-After': '42' } : {};
    return { status: HTTP_STATUS[err.code], headers, body: `${err.code}\n` };
  },
};

t.test('Retry-After on every retryable code, and only there', async (t) => {
  const { log } = memoryLog('test');
  const server = await startHttpServer({ host: '127.0.0.1', port: 0, limits: LIMITS, log, service: errorsService, ...PLAINTEXT });
  t.teardown(() => server.close());
  const port = server.address.port;
  for (const code of ['BUSY', 'SHUTTING_DOWN', 'STORE_UNAVAILABLE', 'LOG_UNAVAILABLE', 'BACKEND_UNAVAILABLE', 'BACKEND_TIMEOUT']) {
    const r = await send(port, 'GET', `/fail/${code}`);
    t.equal(r.status, HTTP_STATUS[code as 'BUSY'], code);
    t.equal(r.headers['retry-after'], '1', `${code}: Retry-After`);
  }
  for (const code of ['BAD_REQUEST', 'UNKNOWN_KEY', 'NOT_ALLOWED', 'SIGNATURE_CHECK_FAILED', 'INTERNAL']) {
    t.equal((await send(port, 'GET', `/fail/${code}`)).headers['retry-after'], undefined, `${code}: no Retry-After`);
  }
  t.equal((await send(port, 'GET', '/fail/OWN_RETRY')).headers['retry-after'], '42', "the service's own value is kept");
  const quick = await startHttpServer({ host: '127.0.0.1', port: 0, limits: { ...LIMITS, httpRequestMsMax: 300 }, log, service: errorsService, ...PLAINTEXT });
  t.teardown(() => quick.close());
  const slow = await new Promise<string>((resolve) => {
    // A request whose headers never end: the server's own 408, which is retryable too.
    const socket = net.connect(quick.address.port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\n'));
    let reply = '';
    socket.on('data', (d: Buffer) => (reply += d.toString('latin1')));
    socket.on('close', () => resolve(reply));
    socket.on('error', () => undefined);
  });
  t.match(slow, /^HTTP\/1\.1 408 [^\r]*\r\n(?:[^\r]+\r\n)*retry-after: 1\r\n/i, '408 from the request deadline');
});

t.test('one request record per request, the line server’s shape plus method, path and status', async (t) => {
  const { log, lines } = memoryLog('test');
  const server = await startHttpServer({ host: '127.0.0.1', port: 0, limits: LIMITS, log, service: errorsService, ...PLAINTEXT });
  t.teardown(() => server.close());
  const port = server.address.port;
  const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => keepAlive.destroy());
  await send(port, 'POST', '/echo', Buffer.from('abc'), {}, keepAlive);
  await send(port, 'GET', '/fail/STORE_UNAVAILABLE', undefined, {}, keepAlive);
  await send(port, 'GET', '/fail/BAD_REQUEST');
  const requests = await until(() => {
    const found = lines.filter((l) => l['msg'] === 'request');
    return found.length === 3 ? found : null;
  });
  t.match(requests[0], { level: 'info', conn: Number, req: 1, method: 'POST', path: '/echo', bytes: 3, status: 200, outcome: 'ok', ms: Number });
  t.match(requests[1], { level: 'warn', req: 2, method: 'GET', path: '/fail/STORE_UNAVAILABLE', status: 503, outcome: 'STORE_UNAVAILABLE', err: Object });
  t.equal(requests[1]!['conn'], requests[0]!['conn'], 'a kept-alive connection numbers its requests');
  t.match(requests[2], { level: 'info', req: 1, status: 400, outcome: 'BAD_REQUEST' });
  t.notOk('err' in requests[2]!, 'a refusal is logged without its error');
  t.not(requests[2]!['conn'], requests[0]!['conn'], 'each connection has its number');
});

t.test('upload routes: a streamed form in a private directory, removed after the reply', async (t) => {
  const { log, lines } = memoryLog('test');
  const tempDir = t.testdir({});
  let seen: { text: string | undefined; file: string; dir: string } | null = null;
  const service: HttpService = {
    ...errorsService,
    upload: (head) =>
      head.path === '/upload'
        ? {
            fields: { name: { kind: 'text', bytesMax: 16 }, data: { kind: 'file', bytesMax: 1 << 20, types: ['application/octet-stream'] } },
            async run(form, ctx) {
              const file = form.files.get('data')!.path;
              seen = { text: form.text.get('name'), file: fs.readFileSync(file, 'latin1'), dir: ctx.dir };
              ctx.fields['name'] = form.text.get('name');
              return { status: 200, file };
            },
          }
        : null,
  };
  const uploads = {
    tempDir,
    limits: { bodyBytesMax: 1 << 20, idleMsMax: 5_000, processingMsMax: 5_000, jobsMax: 1, queueMax: 1, queueBytesMax: 1 << 21, queueMsMax: 1_000 },
  };
  const server = await startHttpServer({ host: '127.0.0.1', port: 0, limits: LIMITS, log, service, uploads, ...PLAINTEXT });
  t.teardown(() => server.close());
  const content = 'x'.repeat(100_000);
  const body = Buffer.from(
    `--b\r\nContent-Disposition: form-data; name="name"\r\n\r\nhello\r\n` +
      `--b\r\nContent-Disposition: form-data; name="data"; filename="d"\r\nContent-Type: application/octet-stream\r\n\r\n${content}\r\n--b--\r\n`,
  );
  const r = await send(server.address.port, 'POST', '/upload', body, { 'content-type': 'multipart/form-data; boundary=b' });
  t.equal(r.status, 200);
  t.equal(r.body, content, 'the file reply is the uploaded file');
  t.equal(seen!.text, 'hello');
  t.equal(seen!.file, content);
  // The directory goes, and the record is written, just after the last byte of the reply.
  const record = await until(() => lines.find((l) => l['msg'] === 'request') ?? null);
  t.match(record, { method: 'POST', path: '/upload', name: 'hello', status: 200, outcome: 'ok', waitedMs: Number });
  t.notOk(fs.existsSync(seen!.dir), "the request's directory is gone");
  t.same(fs.readdirSync(server.uploadDir!), [], 'the private directory is empty');
  const plain = await send(server.address.port, 'POST', '/echo', Buffer.from('four'));
  t.equal(plain.body, '4', 'other paths are read whole and handled');
  await server.close();
  t.notOk(fs.existsSync(server.uploadDir!), 'the private directory goes at close');
});

t.test('a 504 past the processing deadline is logged as it is sent, not when the work it gave up on ends', async (t) => {
  const { log, lines } = memoryLog('test');
  let workEnded = false;
  const service: HttpService = {
    ...errorsService,
    upload: () => ({
      fields: { data: { kind: 'file', bytesMax: 1 << 20, types: ['application/octet-stream'] } },
      async run() {
        await sleep(1_500);
        workEnded = true;
        return { status: 200, body: 'late' };
      },
    }),
  };
  const uploads = {
    tempDir: t.testdir({}),
    limits: { bodyBytesMax: 1 << 20, idleMsMax: 5_000, processingMsMax: 100, jobsMax: 1, queueMax: 1, queueBytesMax: 1 << 21, queueMsMax: 1_000 },
  };
  const server = await startHttpServer({ host: '127.0.0.1', port: 0, limits: LIMITS, log, service, uploads, ...PLAINTEXT });
  t.teardown(() => server.close());
  const body = Buffer.from(`--b\r\nContent-Disposition: form-data; name="data"; filename="d"\r\nContent-Type: application/octet-stream\r\n\r\nx\r\n--b--\r\n`);
  const r = await send(server.address.port, 'POST', '/upload', body, { 'content-type': 'multipart/form-data; boundary=b' });
  t.equal(r.status, 504);
  const record = await until(() => lines.find((l) => l['msg'] === 'request') ?? null);
  t.notOk(workEnded, 'logged before the abandoned work ended');
  t.match(record, { status: 504, outcome: 'BACKEND_TIMEOUT' });
  t.ok(Number(record['ms']) < 1_000, `its duration is the client's (${String(record['ms'])} ms), not the work's`);
  await until(() => (workEnded ? true : null));
  await sleep(50);
  t.equal(lines.filter((l) => l['msg'] === 'request').length, 1, 'one record');
});

t.test('past the connection cap: 503 BUSY with Retry-After and one warning, then served again', async (t) => {
  const { log, lines } = memoryLog('test');
  const server = await startHttpServer({ host: '127.0.0.1', port: 0, limits: { ...LIMITS, connectionsMax: 2 }, log, service: errorsService, ...PLAINTEXT });
  t.teardown(() => server.close());
  const port = server.address.port;
  const idle = await Promise.all([0, 1].map(() => connected(port)));
  const refused = await send(port, 'POST', '/echo', Buffer.from('abc'));
  t.equal(refused.status, 503, 'one more connection is answered, not reset');
  t.equal(refused.headers['x-signerd-error-code'], 'BUSY');
  t.equal(refused.headers['retry-after'], '1');
  t.equal(refused.headers['connection'], 'close', 'and closed');
  t.equal(refused.body, 'BUSY\n', "in the service's own error shape");
  t.match(await until(() => lines.find((l) => l['msg'] === 'connection refused') ?? null), { level: 'warn', outcome: 'BUSY', refused: 1 });
  t.match(await until(() => lines.find((l) => l['msg'] === 'request' && l['outcome'] === 'BUSY') ?? null), { status: 503 });
  for (const socket of idle) socket.destroy();
  const again = await until(async () => {
    const r = await send(port, 'POST', '/echo', Buffer.from('abc'));
    return r.status === 200 ? r : null;
  });
  t.equal(again.body, '3', 'a freed place serves again');
});

t.test('bodies held across connections are bounded: the largest is refused with BUSY, small ones are served', async (t) => {
  const { log, lines } = memoryLog('test');
  // Each body may be 1,024 bytes, all bodies being read together at most 2,048.
  const limits = { ...LIMITS, httpBodiesHeldBytesMax: 2048 };
  const server = await startHttpServer({ host: '127.0.0.1', port: 0, limits, log, service: errorsService, ...PLAINTEXT });
  t.teardown(() => server.close());
  const port = server.address.port;
  // Four clients each send 1,000 of the 1,024 bytes they declare, and wait.
  const slow = await Promise.all(
    [0, 1, 2, 3].map(async () => {
      const socket = await connected(port);
      let reply = '';
      socket.on('data', (d: Buffer) => (reply += d.toString('latin1')));
      socket.write(`POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1024\r\n\r\n${'x'.repeat(1000)}`);
      return { socket, reply: () => reply };
    }),
  );
  const answered = await until(() => {
    const busy = slow.filter((s) => s.reply().startsWith('HTTP/1.1 503'));
    return busy.length >= 2 ? busy : null;
  });
  t.ok(answered.length >= 2, 'the bodies past the budget are refused');
  t.match(answered[0]!.reply(), /\r\nx-signerd-error-code: BUSY\r\n/i);
  t.match(answered[0]!.reply(), /\r\nretry-after: 1\r\n/i, 'retryable');
  t.match(answered[0]!.reply(), /\r\nconnection: close\r\n/i, 'and the connection ends');
  const small = await send(port, 'POST', '/echo', Buffer.from('four'));
  t.equal(small.body, '4', 'a small request beside them is read and served');
  // The ones still held finish normally once their last bytes come.
  for (const s of slow) if (!s.reply()) s.socket.write('y'.repeat(24));
  const finished = await until(() => (slow.every((s) => s.reply().length > 0) ? slow : null));
  t.ok(
    finished.some((s) => /^HTTP\/1\.1 200 [^]*\r\n\r\n1024$/.test(s.reply())),
    'a held body completed is served',
  );
  for (const s of slow) s.socket.destroy();
  const records = lines.filter((l) => l['msg'] === 'request');
  t.equal(records.filter((l) => l['outcome'] === 'BUSY').length, answered.length, 'one record per refused request');
  t.notOk(
    records.some((l) => l['outcome'] === 'BAD_REQUEST'),
    'no record for the rest of a refused body',
  );
});

t.test('an oversized body is refused once: the rest of it is not logged as a bad request', async (t) => {
  const { log, lines } = memoryLog('test');
  const server = await startHttpServer({ host: '127.0.0.1', port: 0, limits: LIMITS, log, service: errorsService, ...PLAINTEXT });
  t.teardown(() => server.close());
  const socket = await connected(server.address.port);
  let reply = '';
  socket.on('data', (d: Buffer) => (reply += d.toString('latin1')));
  const closed = new Promise((resolve) => socket.on('close', resolve));
  socket.write(`POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n${'x'.repeat(2000)}`);
  await until(() => (reply.startsWith('HTTP/1.1 413') ? reply : null));
  // The client stops mid-body, as curl does once it has its 413.
  socket.end();
  await closed;
  await until(() => lines.find((l) => l['msg'] === 'http client gone') ?? null);
  const records = lines.filter((l) => l['msg'] === 'request');
  t.same(
    records.map((l) => l['outcome']),
    ['PAYLOAD_TOO_LARGE'],
    'one record, the refusal',
  );
});

/** A plain TCP connection to the server, once it is connected. */
function connected(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
  });
}

t.test('an upload cut short leaves one record, with the status it was given', async (t) => {
  const { log, lines } = memoryLog('test');
  const service: HttpService = {
    ...errorsService,
    upload: () => ({
      fields: { data: { kind: 'file', bytesMax: 1 << 20, types: ['application/octet-stream'] } },
      run: async () => ({ status: 200, body: 'signed' }),
    }),
  };
  const uploads = {
    tempDir: t.testdir({}),
    limits: { bodyBytesMax: 1 << 20, idleMsMax: 300, processingMsMax: 5_000, jobsMax: 4, queueMax: 4, queueBytesMax: 1 << 23, queueMsMax: 1_000 },
  };
  const head = (length: number): string =>
    `POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: ${length}\r\n\r\n` +
    `--b\r\nContent-Disposition: form-data; name="data"; filename="d"\r\nContent-Type: application/octet-stream\r\n\r\n`;
  /** Starts an upload that sends its head and `bytes` of its file, then what `then` does with the socket. */
  const upload = async (port: number, bytes: number): Promise<{ socket: net.Socket; reply: () => string; closed: Promise<unknown> }> => {
    const socket = await connected(port);
    let reply = '';
    socket.on('data', (d: Buffer) => (reply += d.toString('latin1')));
    socket.on('error', () => undefined);
    const closed = new Promise((resolve) => socket.on('close', resolve));
    socket.write(head(1 << 19) + 'x'.repeat(bytes));
    return { socket, reply: () => reply, closed };
  };
  const records = async (count: number): Promise<Array<Record<string, unknown>>> =>
    until(() => {
      const found = lines.filter((l) => l['msg'] === 'request');
      return found.length >= count ? found : null;
    });
  /** Outcome and status of every request record, once a late second record would have come too. */
  const settledRecords = async (): Promise<unknown[][]> => {
    await sleep(100);
    return (await records(1)).map((l) => [l['outcome'], l['status']]);
  };

  await t.test('a trickle past the idle window: 408, one record', async (t) => {
    lines.length = 0;
    const server = await startHttpServer({ host: '127.0.0.1', port: 0, limits: LIMITS, log, service, uploads, ...PLAINTEXT });
    t.teardown(() => server.close());
    const u = await upload(server.address.port, 10);
    await u.closed;
    t.match(u.reply(), /^HTTP\/1\.1 408 /);
    t.same(await settledRecords(), [['REQUEST_TIMEOUT', 408]]);
  });

  await t.test('an upload holding much room must keep the pace that brings it in by the deadline', async (t) => {
    lines.length = 0;
    // 8 MiB declared, a 5 s request deadline, 300 ms windows: about 492 KiB a window, far above the
    // 64 KiB floor, which this trickle (about 290 KiB a window) passes.
    const big = { ...uploads, limits: { ...uploads.limits, bodyBytesMax: 1 << 23, queueBytesMax: 1 << 24 } };
    const server = await startHttpServer({ host: '127.0.0.1', port: 0, limits: LIMITS, log, service, uploads: big, ...PLAINTEXT });
    t.teardown(() => server.close());
    const socket = await connected(server.address.port);
    let reply = '';
    socket.on('data', (d: Buffer) => (reply += d.toString('latin1')));
    socket.on('error', () => undefined);
    const closed = new Promise((resolve) => socket.on('close', resolve));
    socket.write(head(1 << 23));
    const trickle = setInterval(() => socket.writable && socket.write('x'.repeat(96 * 1024)), 100);
    await closed;
    clearInterval(trickle);
    t.match(reply, /^HTTP\/1\.1 408 /, '408');
    t.same(await settledRecords(), [['REQUEST_TIMEOUT', 408]]);
  });

  await t.test('the request deadline passes mid-upload: 408 from the request, one record', async (t) => {
    lines.length = 0;
    const limits = { ...LIMITS, httpRequestMsMax: 800 };
    const slowUploads = { ...uploads, limits: { ...uploads.limits, idleMsMax: 5_000 } };
    const server = await startHttpServer({ host: '127.0.0.1', port: 0, limits, log, service, uploads: slowUploads, ...PLAINTEXT });
    t.teardown(() => server.close());
    const u = await upload(server.address.port, 100_000);
    // Enough each window to keep the idle check quiet, never enough to finish.
    const feed = setInterval(() => u.socket.write('x'.repeat(20_000)), 200);
    await u.closed;
    clearInterval(feed);
    t.match(u.reply(), /^HTTP\/1\.1 408 [^]*x-signerd-error-code: REQUEST_TIMEOUT/i);
    t.same(await settledRecords(), [['REQUEST_TIMEOUT', 408]]);
  });

  await t.test('the client hangs up mid-upload: one record', async (t) => {
    lines.length = 0;
    const server = await startHttpServer({ host: '127.0.0.1', port: 0, limits: LIMITS, log, service, uploads, ...PLAINTEXT });
    t.teardown(() => server.close());
    const u = await upload(server.address.port, 100_000);
    await sleep(50);
    u.socket.end();
    await u.closed;
    await sleep(100);
    t.same(
      (await records(1)).map((l) => l['outcome']),
      ['BAD_REQUEST'],
      'the aborted upload, and no second record for the broken-off rest',
    );
  });

  await t.test('the drain deadline passes mid-upload: SHUTTING_DOWN, one record', async (t) => {
    lines.length = 0;
    const limits = { ...LIMITS, drainMsMax: 300 };
    const slowUploads = { ...uploads, limits: { ...uploads.limits, idleMsMax: 5_000 } };
    const server = await startHttpServer({ host: '127.0.0.1', port: 0, limits, log, service, uploads: slowUploads, ...PLAINTEXT });
    const u = await upload(server.address.port, 100_000);
    await until(() => (server.uploadDir && fs.readdirSync(server.uploadDir).length > 0 ? true : null));
    await server.close();
    await u.closed;
    t.same(await settledRecords(), [['SHUTTING_DOWN', 503]]);
  });
});

/** A server whose service takes `ms` per request, with its load readable as the metrics read it. */
async function slowServer(t: Test, ms: number) {
  const { log, lines } = memoryLog('test');
  let started = 0;
  let load: ListenerLoad | undefined;
  const service: HttpService = {
    async handle(req) {
      started++;
      await sleep(ms);
      return { status: 200, body: String(req.body.length) };
    },
    formatError: errorsService.formatError,
  };
  const metrics = { record: () => undefined, refused: () => undefined, observe: (l: ListenerLoad) => void (load = l) };
  const server = await startHttpServer({ host: '127.0.0.1', port: 0, limits: LIMITS, log, service, metrics, ...PLAINTEXT });
  t.teardown(() => server.close());
  return { port: server.address.port, lines, started: () => started, inFlight: () => load!.inFlight() };
}

t.test('at the drain deadline, the request running and those pipelined behind it are recorded as stopped by us', async (t) => {
  const { log, lines } = memoryLog('test');
  let started = 0;
  const service: HttpService = {
    async handle() {
      started++;
      // Past the deadline (100 ms) and the grace before every socket is closed (1 s).
      await sleep(1_500);
      return { status: 200, body: 'late' };
    },
    formatError: errorsService.formatError,
  };
  const server = await startHttpServer({ host: '127.0.0.1', port: 0, limits: { ...LIMITS, drainMsMax: 100 }, log, service, ...PLAINTEXT });
  const socket = net.connect(server.address.port, '127.0.0.1');
  socket.on('error', () => undefined);
  t.teardown(() => socket.destroy());
  socket.write('GET /x HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(3));
  await until(() => (started === 1 ? true : null));
  await server.close();
  const records = lines.filter((l) => l['msg'] === 'request');
  t.equal(started, 1, 'the waiting requests never ran');
  t.equal(records.length, 3, 'one record per request');
  for (const record of records)
    t.match(record, { outcome: 'SHUTTING_DOWN', reason: /the daemon stopped before/ }, `request ${String(record['req'])}: not "client-gone"`);
});

t.test('pipelined requests are served one at a time; past 16 waiting, the connection is closed', async (t) => {
  const s = await slowServer(t, 20);
  const socket = net.connect(s.port, '127.0.0.1');
  socket.on('error', () => undefined);
  socket.write('GET /x HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(200));
  socket.pause();
  t.teardown(() => socket.destroy());
  const records = await until(() => {
    const found = s.lines.filter((l) => l['msg'] === 'request');
    return found.length === 18 && s.inFlight() === 0 ? found : null;
  });
  t.ok(s.started() <= 1, `the closed connection's waiting requests never ran (${s.started()} started)`);
  t.equal(records.filter((r) => r['outcome'] === 'BUSY').length, 1, 'one record says why the connection was closed');
  t.match(
    records.find((r) => r['outcome'] === 'BUSY'),
    { req: 18, reason: /more than 16 requests pipelined/ },
  );
  t.equal(records.filter((r) => r['outcome'] === 'client-gone').length, 17, 'the others: one record each, client gone');
  await sleep(100);
  t.equal(s.lines.filter((l) => l['msg'] === 'request').length, 18, 'the 182 requests parsed after the close leave nothing');

  // A client that pipelines within the bound is served in order.
  const replies = await new Promise<string>((resolve) => {
    let got = '';
    // Bodies of 1 to 8 bytes: the service answers each body's length, so the replies show the order.
    const requests = Array.from({ length: 8 }, (_, i) => `POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: ${i + 1}\r\n\r\n${'a'.repeat(i + 1)}`);
    const ok = net.connect(s.port, '127.0.0.1', () => ok.write(requests.join('')));
    ok.on('data', (d: Buffer) => {
      got += d.toString();
      if ((got.match(/HTTP\/1\.1 200/g) ?? []).length === 8) {
        ok.destroy();
        resolve(got);
      }
    });
  });
  t.equal((replies.match(/HTTP\/1\.1 200/g) ?? []).length, 8, 'eight pipelined requests, eight replies');
  t.same(
    replies
      .split('HTTP/1.1 200')
      .slice(1)
      .map((reply) => reply.split('\r\n\r\n')[1]),
    ['1', '2', '3', '4', '5', '6', '7', '8'],
    'in the order they were sent',
  );
});

t.test('pipelined requests whose client leaves are each logged once, and nothing stays in flight', async (t) => {
  const s = await slowServer(t, 1);
  for (let round = 0; round < 3; round++) {
    const socket = net.connect(s.port, '127.0.0.1');
    socket.on('error', () => undefined);
    socket.write('POST /hmac HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello'.repeat(2000));
    await sleep(100);
    socket.destroy();
  }
  const settled = await until(() => (s.inFlight() === 0 ? s.lines.filter((l) => l['msg'] === 'request') : null));
  await sleep(200);
  t.equal(s.inFlight(), 0, 'no request is left in flight');
  const byConnection = new Map<unknown, number[]>();
  for (const r of settled) byConnection.set(r['conn'], [...(byConnection.get(r['conn']) ?? []), r['req'] as number]);
  for (const [conn, reqs] of byConnection)
    t.same(
      reqs.sort((a, b) => a - b),
      Array.from({ length: reqs.length }, (_, i) => i + 1),
      `connection ${String(conn)}: one record per request`,
    );
});

/** Writes `raw` on a connection of its own and resolves with everything the server sent before it closed. */
function rawExchange(port: number, raw: string): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const socket = net.connect(port, '127.0.0.1', () => socket.write(raw));
    socket.on('data', (d: Buffer) => (got += d.toString()));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(got));
    socket.setTimeout(3_000, () => socket.destroy());
  });
}

t.test('a body sent a byte at a time is refused past its pieces; one in larger chunks is read whole', async (t) => {
  const { log, lines } = memoryLog('test');
  const limits = { ...LIMITS, httpBodyBytesMax: 1024 * 1024 }; // 2,048 pieces at most
  const server = await startHttpServer({ host: '127.0.0.1', port: 0, limits, log, service: errorsService, ...PLAINTEXT });
  t.teardown(() => server.close());
  const chunked = (pieces: string[]): string =>
    `POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${pieces.map((p) => `${p.length.toString(16)}\r\n${p}\r\n`).join('')}0\r\n\r\n`;
  const tiny = await rawExchange(server.address.port, chunked(Array.from({ length: 3_000 }, () => 'a')));
  t.match(tiny, /^HTTP\/1\.1 400 /, '3,000 one-byte chunks: 400');
  t.match(tiny, /\r\nx-signerd-error-code: BAD_REQUEST\r\n/i, 'with the code header');
  t.match(await until(() => lines.find((l) => l['msg'] === 'request' && l['outcome'] === 'BAD_REQUEST') ?? null), { status: 400 }, 'one record');
  const whole = await rawExchange(server.address.port, chunked(Array.from({ length: 100 }, () => 'b'.repeat(5_000))));
  t.match(whole, /\r\n\r\n500000$/, '100 chunks of 5,000 bytes: read whole (500,000 bytes, copied into one growing buffer)');
});

t.test('what node:http would answer itself, and a body that does not parse: 400 with the code header and one record', async (t) => {
  const { log, lines } = memoryLog('test');
  const server = await startHttpServer({ host: '127.0.0.1', port: 0, limits: LIMITS, log, service: errorsService, ...PLAINTEXT });
  t.teardown(() => server.close());
  const port = server.address.port;
  const cases: Array<[string, string]> = [
    ['no Host header', 'GET /x HTTP/1.1\r\nConnection: close\r\n\r\n'],
    ['an expectation other than 100-continue', 'POST /x HTTP/1.1\r\nHost: x\r\nExpect: 999-nope\r\nContent-Length: 5\r\n\r\nhello'],
    ['a bad chunk size', 'POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nabc\r\n0\r\n\r\n'],
  ];
  for (const [what, raw] of cases) {
    const before = lines.filter((l) => l['msg'] === 'request').length;
    const reply = await rawExchange(port, raw);
    t.match(reply, /^HTTP\/1\.1 400 Bad Request\r\n/, `${what}: 400`);
    t.match(reply, /\r\nx-signerd-error-code: BAD_REQUEST\r\n/i, `${what}: the code header`);
    const records = await until(() => {
      const found = lines.filter((l) => l['msg'] === 'request').slice(before);
      return found.length > 0 ? found : null;
    });
    await sleep(50);
    t.equal(lines.filter((l) => l['msg'] === 'request').length - before, 1, `${what}: one record`);
    t.match(records[0], { status: 400, outcome: 'BAD_REQUEST' });
  }
  t.equal((await rawExchange(port, 'GET /x HTTP/1.0\r\n\r\n')).split('\r\n')[0], 'HTTP/1.1 200 OK', 'HTTP/1.0 needs no Host');
});

t.test('a pipelined request that breaks is not blamed on the one being served; HTTP/1.0 ignores Expect', async (t) => {
  const s = await slowServer(t, 300);
  // A complete request, then garbage while it is being served: its record is never "ok" with a 400.
  await rawExchange(s.port, 'POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\naGARBAGE\x01\r\n\r\n');
  const first = await until(() => s.lines.find((l) => l['msg'] === 'request' && l['req'] === 1) ?? null);
  t.not(first['status'], 400, `the request being served is not answered for the bytes after it (${String(first['outcome'])}, ${String(first['status'])})`);
  t.notOk(first['outcome'] === 'ok' && first['status'] !== 200, 'and its record does not say ok beside another status');
  const reply = await rawExchange(s.port, 'POST /a HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nab');
  t.match(reply, /^HTTP\/1\.1 200 OK\r\n/, 'HTTP/1.0 with Expect: 100-continue is served (the expectation is ignored)');
});

t.test('bytes that do not parse after complete requests: those are answered in order, then 400 with the code header', async (t) => {
  const s = await slowServer(t, 100);
  const reply = await rawExchange(s.port, 'POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\naGARBAGE\x01\r\n\r\n');
  const statuses = [...reply.matchAll(/HTTP\/1\.1 (\d+) /g)].map((m) => Number(m[1]));
  t.same(statuses, [200, 400], 'the request first, then the refusal of what followed it');
  t.match(reply, /\r\nx-signerd-error-code: BAD_REQUEST\r\n/i, 'the refusal carries the code header');
  const records = await until(() => {
    const found = s.lines.filter((l) => l['msg'] === 'request');
    return found.length >= 2 ? found : null;
  });
  t.match(records[0], { req: 1, status: 200, outcome: 'ok' });
  t.match(records[1], { req: 2, status: 400, outcome: 'BAD_REQUEST' });
  // An HTTP/1.0 POST with no Content-Length has no body: the (empty) request is answered, and the
  // connection closes after it, as HTTP/1.0 does, with what the client meant as a body unread.
  const old = await rawExchange(s.port, 'POST /a HTTP/1.0\r\n\r\nnot a request\r\n\r\n');
  t.same(
    [...old.matchAll(/HTTP\/1\.1 (\d+) /g)].map((m) => Number(m[1])),
    [200],
    'HTTP/1.0 body without Content-Length: the empty request is answered',
  );
});

t.test('a client that half-closes after its requests (printf … | nc -N) is answered, in order, then the connection ends', needTools('nc'), async (t) => {
  const { log, lines } = memoryLog('test');
  // Slow enough that the client's FIN comes while the first request is being served.
  const slow: HttpService = {
    async handle(req, ctx) {
      ctx.fields['bytes'] = 0;
      await sleep(50);
      return { status: 200, body: `${req.path}\n` };
    },
    formatError: errorsService.formatError,
  };
  const server = await startHttpServer({ host: '127.0.0.1', port: 0, limits: LIMITS, log, service: slow, ...PLAINTEXT });
  t.teardown(() => server.close());
  const out = await new Promise<string>((resolve, reject) => {
    const child = execFile('nc', ['-N', '127.0.0.1', String(server.address.port)], { timeout: 10_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
    child.stdin!.end('GET /first HTTP/1.1\r\nHost: x\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\n\r\n');
  });
  t.same(
    out.split(/\r?\n/).filter((l) => l.startsWith('HTTP/1.1') || l.startsWith('/')),
    ['HTTP/1.1 200 OK', '/first', 'HTTP/1.1 200 OK', '/second'],
    'both answered, and nc ended: the daemon closed the connection after the last reply',
  );
  t.same(
    lines.filter((l) => l['msg'] === 'request').map((l) => [l['path'], l['outcome']]),
    [
      ['/first', 'ok'],
      ['/second', 'ok'],
    ],
  );
});

t.test('a client that leaves part-way through its request is gone, not a bad request; CONNECT gets 405', async (t) => {
  const { log, lines } = memoryLog('test');
  const server = await startHttpServer({ host: '127.0.0.1', port: 0, limits: LIMITS, log, service: errorsService, ...PLAINTEXT });
  t.teardown(() => server.close());
  const port = server.address.port;
  const socket = await connected(port);
  socket.end('GET /x HT');
  const gone = await until(() => lines.find((l) => l['msg'] === 'request') ?? null);
  t.match(gone, { status: null, outcome: 'client-gone' });
  const reply = await rawExchange(port, 'CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n');
  t.match(reply, /^HTTP\/1\.1 405 Method Not Allowed\r\n/, 'CONNECT: 405');
  t.match(reply, /\r\nx-signerd-error-code: METHOD_NOT_ALLOWED\r\n/i, 'with the code header');
  const connect = await until(() => lines.find((l) => l['msg'] === 'request' && l['method'] === 'CONNECT') ?? null);
  t.match(connect, { status: 405, outcome: 'METHOD_NOT_ALLOWED' });
  const big = await rawExchange(port, `GET /${'x'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
  t.match(big, /^HTTP\/1\.1 431 /, 'headers past the bound: 431');
  t.match(big, /\r\nx-signerd-error-code: BAD_REQUEST\r\n/i, 'with the code header');
});

t.test('Expect: 100-continue with a body declared too large: 413 at once, never 100 Continue', async (t) => {
  const { log } = memoryLog('test');
  const server = await startHttpServer({ host: '127.0.0.1', port: 0, limits: LIMITS, log, service: errorsService, ...PLAINTEXT });
  t.teardown(() => server.close());
  const reply = await rawExchange(
    server.address.port,
    `POST /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: ${LIMITS.httpBodyBytesMax + 1}\r\n\r\n`,
  );
  t.match(reply, /^HTTP\/1\.1 413 /, '413 first');
  t.notMatch(reply, /100 Continue/, 'no 100 Continue');
  t.match(reply, /\r\nconnection: close\r\n/i, 'and the connection closes');
});

t.test('a path starting with // is a path, not a host', async (t) => {
  const { log } = memoryLog('test');
  const service: HttpService = { handle: async (req) => ({ status: 200, body: req.path }), formatError: errorsService.formatError };
  const server = await startHttpServer({ host: '127.0.0.1', port: 0, limits: LIMITS, log, service, ...PLAINTEXT });
  t.teardown(() => server.close());
  const reply = await rawExchange(server.address.port, 'GET //keys/x?y=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  t.match(reply, /\r\n\r\n\/\/keys\/x$/, 'the service sees //keys/x');
});
