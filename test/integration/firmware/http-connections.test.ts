// Idle and slow clients of the firmware HTTP front end: a connection that sends nothing, trickles
// its headers or trickles its upload gets 408 within the idle timeout and is then closed by the
// daemon, whatever the client does with its own end; /health and signing answer again meanwhile.
import t from 'tap';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { DEFAULT_FIRMWARE_HTTP_LIMITS } from '../../../daemons/firmware/firmware-limits.js';
import { needTools } from '../../helpers/tools.js';
import { MACHINE, curlPost, run, startFirmwareDaemon, type FirmwareHttp } from './http-fixtures.js';
import { until } from '../../helpers/polling.js';

/** A client that never closes its side (allowHalfOpen): it only learns whether the daemon closed. */
interface HeldClient {
  socket: net.Socket;
  reply(): string;
  /** True once the daemon's FIN or RST arrived. */
  closedByDaemon(): boolean;
}

function holdConnection(port: number): Promise<HeldClient> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let reply = '';
    let ended = false;
    socket.on('data', (d: Buffer) => (reply += d.toString('latin1')));
    socket.on('end', () => (ended = true));
    socket.on('close', () => (ended = true));
    socket.on('error', () => (ended = true));
    socket.once('connect', () => resolve({ socket, reply: () => reply, closedByDaemon: () => ended }));
    socket.once('error', reject);
  });
}

/** Open sockets of a process (listeners included): what its connection cap is counted against. */
function socketsOf(pid: number): number {
  let n = 0;
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (fs.readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) n++;
    } catch {
      // The descriptor closed between readdir and readlink.
    }
  }
  return n;
}

function health(http: FirmwareHttp): number {
  return Number(run('curl', ['--silent', '--max-time', '2', '-o', '/dev/null', '-w', '%{http_code}', `${http.url}/health`]).stdout.toString() || 0);
}

function moduleTarball(http: FirmwareHttp): string {
  const dir = path.join(http.base, 'tree/lib/modules/x');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'a.ko'), Buffer.alloc(2000, 1));
  run('tar', ['-C', path.join(http.base, 'tree'), '-c', '-z', '-f', path.join(http.base, 'in.tar.gz'), 'lib/modules']);
  return 'in.tar.gz';
}

t.test('connections that send nothing: 408, then closed; the cap frees up while the clients still hold on', needTools('curl', 'tar'), async (t) => {
  // --http-request-ms-max also caps the time allowed for the headers, so the idle timeout here is 1 s.
  const http = await startFirmwareDaemon(t, ['--http-request-ms-max', '1000']);
  const tarball = moduleTarball(http);
  const pid = http.daemon.proc.pid!;
  const port = Number(new URL(http.url).port);
  const idle = socketsOf(pid);
  const cap = DEFAULT_FIRMWARE_HTTP_LIMITS.connectionsMax;
  const clients = await Promise.all(Array.from({ length: cap }, () => holdConnection(port)));
  t.teardown(() => clients.forEach((c) => c.socket.destroy()));
  t.ok(await until(() => socketsOf(pid) >= idle + cap, 5000, 100), `the daemon holds all ${cap} connections (the cap is full)`);

  t.ok(await until(() => clients.every((c) => c.reply().startsWith('HTTP/1.1 408 ')), 8000), 'every idle connection is answered 408');
  t.ok(await until(() => clients.every((c) => c.closedByDaemon()), 2000), 'and closed by the daemon');
  t.ok(await until(() => socketsOf(pid) <= idle, 2000, 100), 'the daemon keeps none of them (no half-closed sockets counting against the cap)');
  t.notOk(
    clients.some((c) => c.socket.destroyed),
    'the clients still hold their ends open',
  );
  t.equal(health(http), 200, '/health answers');
  t.equal(curlPost(`${http.url}/sign/modules`, ['-F', `machine=${MACHINE}`, '-F', `artifact=@${tarball}`], { cwd: http.base }).status, 200, 'signing answers');
});

t.test('slow headers and slow uploads: 408 within the idle timeout, then closed', needTools('curl', 'tar'), async (t) => {
  // The request deadline stays at its default (30 min): only the idle timeout bounds these clients.
  const http = await startFirmwareDaemon(t, ['--http-idle-ms-max', '1000']);
  const tarball = moduleTarball(http);
  const port = Number(new URL(http.url).port);
  const pid = http.daemon.proc.pid!;
  const idle = socketsOf(pid);
  const head = `POST /sign/modules HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XX\r\nContent-Length: 50000\r\n\r\n`;
  const trickle = (client: HeldClient, text: string) => {
    let i = 0;
    const timer = setInterval(() => {
      if (client.closedByDaemon() || i >= text.length) clearInterval(timer);
      else client.socket.write(text[i++]!);
    }, 100);
    t.teardown(() => clearInterval(timer));
  };
  const slowHeaders = await holdConnection(port);
  trickle(slowHeaders, head);
  const slowBody = await holdConnection(port);
  slowBody.socket.write(head);
  trickle(slowBody, `--XX\r\nContent-Disposition: form-data; name="machine"\r\n\r\n${MACHINE}\r\n--XX\r\n`.padEnd(50000, 'x'));
  t.teardown(() => [slowHeaders, slowBody].forEach((c) => c.socket.destroy()));
  const started = Date.now();

  // One idle window to notice, one check interval (1 s) of lateness, and slack for a loaded machine.
  t.ok(
    await until(() => slowHeaders.reply().startsWith('HTTP/1.1 408 ') && slowHeaders.closedByDaemon(), 6000),
    'headers trickled a byte at a time: 408 and closed',
  );
  t.ok(await until(() => slowBody.reply().startsWith('HTTP/1.1 408 ') && slowBody.closedByDaemon(), 6000), 'an upload trickled at 10 bytes/s: 408 and closed');
  t.ok(Date.now() - started < 6000, `both cut within ${Date.now() - started} ms`);
  t.ok(await until(() => socketsOf(pid) <= idle, 2000), 'the daemon keeps neither socket');
  t.equal(health(http), 200, '/health answers');
  t.equal(
    curlPost(`${http.url}/sign/modules`, ['-F', `machine=${MACHINE}`, '-F', `artifact=@${tarball}`], { cwd: http.base }).status,
    200,
    'a normal upload is not cut',
  );
  const timeouts = () => http.daemon.logs.filter((l) => l['msg'] === 'request' && l['outcome'] === 'REQUEST_TIMEOUT').length;
  t.ok(await until(() => timeouts() >= 2, 2000), 'both are logged as REQUEST_TIMEOUT');
});
