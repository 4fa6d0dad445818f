// The operations listener: GET /metrics (Prometheus text), /healthz (serving its listeners) and
// /readyz (able to do its job; 503 with a JSON body naming each part that is not, and why).
// Plain node:http with its own small bounds; loopback unless --insecure-plaintext.
import http from 'node:http';
import { ERROR_CODE_HEADER } from '../protocol/http-status.js';
import type net from 'node:net';
import type { Logger } from 'pino';
import { isLoopback, type ChannelPolicy } from '../channels/channel-options.js';
import { DaemonError } from '../errors.js';
import { HTTP_DEADLINE_CHECK_INTERVAL_MS, METRICS_CONNECTIONS_MAX, METRICS_PIPELINE_DEPTH_MAX, METRICS_REQUEST_MS_MAX } from '../limits.js';
import type { Readiness } from './readiness.js';
import type { OperationsSettings } from './operations-options.js';
import { noteListening } from '../server/own-ports.js';

export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

export interface RunningOperationsServer {
  readonly address: net.AddressInfo;
  close(): Promise<void>;
}

export async function startOperationsServer(
  settings: OperationsSettings,
  policy: ChannelPolicy,
  deps: { readiness: Readiness; metrics: MetricsSource; log: Logger },
): Promise<RunningOperationsServer> {
  // Always plain HTTP, whatever the daemon's own listeners speak: TLS channels there do not cover it.
  if (!policy.insecurePlaintext && !isLoopback(settings.host)) {
    throw new DaemonError(
      'CONFIG_INVALID',
      `refusing to serve metrics and readiness on ${settings.host}: the operations listener is plain HTTP, whatever the daemon's TLS; keep it on loopback (behind a reverse proxy or a scraper on the host), or give --insecure-plaintext`,
    );
  }
  // node:http checks these deadlines every connectionsCheckingInterval (30 s by default): at that
  // pace 16 idle connections would hold the listener, and a prober, for half a minute.
  const deadlines = {
    requestTimeout: METRICS_REQUEST_MS_MAX,
    headersTimeout: METRICS_REQUEST_MS_MAX,
    connectionsCheckingInterval: HTTP_DEADLINE_CHECK_INTERVAL_MS,
  };
  // Requests each connection has outstanding: node:http parses every pipelined request in a read
  // at once, and a client that sends many and reads none would grow them without end.
  const outstanding = new WeakMap<net.Socket, number>();
  const server = http.createServer(deadlines, (req, res) => {
    const socket = req.socket;
    const depth = (outstanding.get(socket) ?? 0) + 1;
    if (depth > METRICS_PIPELINE_DEPTH_MAX) return void socket.destroy();
    outstanding.set(socket, depth);
    // Every reply is written within the request deadline, or its connection goes: a client that
    // stops reading (or reads a byte at a time) must not keep one of the few places for ever.
    const deadline = setTimeout(() => socket.destroy(), METRICS_REQUEST_MS_MAX);
    res.once('close', () => {
      clearTimeout(deadline);
      outstanding.set(socket, (outstanding.get(socket) ?? 1) - 1);
    });
    void answer(req.method ?? 'GET', (req.url ?? '/').split('?')[0] ?? '/', deps).then(
      ({ status, type, body }) => {
        const headers: Record<string, string | number> = { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' };
        // An error reply carries its code, as every listener's does; a 503 from /readyz or /healthz is an answer, not an error.
        if (status === 405) Object.assign(headers, { allow: 'GET, HEAD', [ERROR_CODE_HEADER]: 'METHOD_NOT_ALLOWED' });
        if (status === 404) headers[ERROR_CODE_HEADER] = 'NOT_FOUND';
        res.writeHead(status, headers);
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (err: unknown) => {
        deps.log.error({ err }, 'metrics listener failed a request');
        res.writeHead(500, { [ERROR_CODE_HEADER]: 'INTERNAL' }).end();
      },
    );
    // Bodies are never read: a scrape has none.
    req.resume();
  });
  // Past the cap a newcomer takes the place of the oldest connection with no request being answered
  // (idle, or its request not yet whole): held sockets cannot keep a prober out, as they did when
  // node:net reset every connection past the cap. Only when every place is answering is the newcomer
  // turned away. A hard bound stays for a flood faster than the evictions.
  const open = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    if (open.size <= METRICS_CONNECTIONS_MAX) return;
    const idle = [...open].find((s) => (outstanding.get(s) ?? 0) === 0 && s !== socket);
    (idle ?? socket).destroy();
  });
  server.maxConnections = 4 * METRICS_CONNECTIONS_MAX;
  // A request that never parsed (too slow, malformed, headers past the bound) is answered with its
  // code, as every other listener answers it; node:http's own reply carries none.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
    const [status, reason, code] =
      err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', 'REQUEST_TIMEOUT']
        : err.code === 'HPE_HEADER_OVERFLOW'
          ? [431, 'Request Header Fields Too Large', 'BAD_REQUEST']
          : [400, 'Bad Request', 'BAD_REQUEST'];
    if (!socket.writable || err.code === 'ECONNRESET') return void socket.destroy();
    socket.end(`HTTP/1.1 ${status} ${reason}\r\n${ERROR_CODE_HEADER}: ${code}\r\nconnection: close\r\n\r\n`);
    // Gone once the reply is out, or after a second whatever the client does.
    setTimeout(() => socket.destroy(), 1_000).unref();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: settings.host, port: settings.port }, () => {
      server.off('error', reject);
      noteListening(server);
      resolve();
    });
  });
  server.on('error', (err) => deps.log.error({ err }, 'metrics listener error'));
  return {
    address: server.address() as net.AddressInfo,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

interface Answer {
  status: number;
  type: string;
  body: string;
}

const JSON_TYPE = 'application/json';

async function answer(method: string, path: string, deps: { readiness: Readiness; metrics: MetricsSource }): Promise<Answer> {
  if (method !== 'GET' && method !== 'HEAD') return { status: 405, type: JSON_TYPE, body: '{"error":"GET only"}\n' };
  switch (path) {
    case '/metrics':
      return { status: 200, type: deps.metrics.contentType, body: await deps.metrics.metrics() };
    case '/healthz': {
      const { serving } = deps.readiness.report();
      return { status: serving ? 200 : 503, type: JSON_TYPE, body: JSON.stringify({ serving }) + '\n' };
    }
    case '/readyz': {
      const report = deps.readiness.report();
      const notReady = Object.fromEntries(report.parts.filter((p) => !p.ready).map((p) => [p.name, p.reason]));
      if (!report.serving) notReady['listeners'] = 'not serving yet (starting or draining)';
      const body = { ready: report.ready, parts: Object.fromEntries(report.parts.map((p) => [p.name, p.ready])), ...(report.ready ? {} : { notReady }) };
      return { status: report.ready ? 200 : 503, type: JSON_TYPE, body: JSON.stringify(body) + '\n' };
    }
    default:
      return { status: 404, type: JSON_TYPE, body: '{"error":"try /metrics, /healthz or /readyz"}\n' };
  }
}
