// `signerd log serve`: a long-running, read-only HTTP mirror source for one transparency log (its
// checkpoint and tiles), so auditors and witnesses can follow the log without a shell on the host.
// Composition root: options → settings → the shared HTTP server over lib/transparency/tile-server.
import fs from 'node:fs';
import { Command, Option } from '@commander-js/extra-typings';
import type { Logger } from 'pino';
import { DaemonError } from '../errors.js';
import { DEFAULT_LIMITS, HTTP_REPLY_STALL_MS_MAX } from '../limits.js';
import { LOG_LEVELS } from '../log/logger.js';
import { parseCount, parseMilliseconds, parsePort } from '../config/numbers.js';
import { required } from '../config/daemon-options.js';
import { addTransparencyLogDirOption } from '../config/transparency-log-options.js';
import { addChannelOptions, channelPolicy, type ChannelPolicy } from '../channels/channel-options.js';
import { addOperationsOptions, operationsSettings, type OperationsSettings } from '../operations/operations-options.js';
import { startOperations } from '../operations/operations.js';
import { channelReload, openChannelGuard } from '../channels/channel-guard.js';
import { runDaemonProcess, type DaemonHandle } from '../server/daemon-process.js';
import { startHttpServer } from '../server/serve-http.js';
import { createTileHttpService } from '../transparency/tile-server.js';
import { readableDirectoryPart } from '../operations/probes.js';

/** Beside the daemons' ports (98xx line protocols); RFC 6962's number would collide with nothing but reads oddly. */
const LOG_HTTP_PORT = 9870;
/** Requests carry no body; anything larger than a few headers' worth is not a mirror's request. */
const BODY_BYTES_MAX = 1024;

interface LogServeSettings {
  dir: string;
  host: string;
  port: number;
  policy: ChannelPolicy;
  /** /metrics, /healthz, /readyz, or null (readiness still tells systemd when it serves). */
  operations: OperationsSettings | null;
  logLevel: string;
  limits: { connectionsMax: number; drainMsMax: number; httpRequestMsMax: number; httpBodyBytesMax: number; httpReplyStallMsMax: number };
}

function serveCommand() {
  return addTransparencyLogDirOption(addOperationsOptions(addChannelOptions(new Command('serve'))))
    .description(`serve the log's checkpoint and tiles read-only over HTTP (C2SP tlog-tiles paths; default 127.0.0.1:${LOG_HTTP_PORT})`)
    .option('--config <file>', 'JSON file of options (camelCase long names); command-line options win')
    .option('--host <address>', 'address to listen on; beyond loopback only with TLS (--tls-cert) or --insecure-plaintext', '127.0.0.1')
    .option('--port <port>', 'HTTP port', parsePort('--port'), LOG_HTTP_PORT)
    .option('--connections-max <n>', 'open connections; more are closed at once', parseCount('--connections-max', 1), DEFAULT_LIMITS.connectionsMax)
    .option('--request-ms-max <ms>', 'a request must arrive whole within this long', parseMilliseconds('--request-ms-max', 1), DEFAULT_LIMITS.httpRequestMsMax)
    .option(
      '--reply-stall-ms-max <ms>',
      'a reply that makes no progress this long (its client stopped reading) is cut',
      parseMilliseconds('--reply-stall-ms-max', 1),
      HTTP_REPLY_STALL_MS_MAX,
    )
    .option(
      '--drain-ms-max <ms>',
      'on SIGTERM, time allowed for replies in progress before exit',
      parseMilliseconds('--drain-ms-max', 0),
      DEFAULT_LIMITS.drainMsMax,
    )
    .addOption(new Option('--log-level <level>', 'pino log level').choices(LOG_LEVELS).default('info'));
}

type LogServeOptionValues = ReturnType<ReturnType<typeof serveCommand>['opts']>;

function logServeSettings(opts: LogServeOptionValues): LogServeSettings {
  const dir = required(opts.transparencyLog, '--transparency-log');
  if (!fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new DaemonError('CONFIG_INVALID', `--transparency-log ${dir}: not a directory`);
  if (opts.host.length === 0) throw new DaemonError('CONFIG_INVALID', '--host: empty');
  return {
    dir,
    host: opts.host,
    port: opts.port,
    policy: channelPolicy(opts),
    operations: operationsSettings(opts),
    logLevel: opts.logLevel,
    limits: {
      connectionsMax: opts.connectionsMax,
      drainMsMax: opts.drainMsMax,
      httpRequestMsMax: opts.requestMsMax,
      httpBodyBytesMax: BODY_BYTES_MAX,
      httpReplyStallMsMax: opts.replyStallMsMax,
    },
  };
}

async function serveLog(settings: LogServeSettings, log: Logger): Promise<DaemonHandle> {
  const channel = openChannelGuard('log-serve', settings.policy, log);
  const ops = await startOperations('log-serve', settings, log, channel);
  const server = await startHttpServer({
    host: settings.host,
    port: settings.port,
    limits: settings.limits,
    log,
    service: createTileHttpService(settings.dir),
    channel,
    policy: settings.policy,
    metrics: ops.listener('http'),
  });
  log.info({ protocol: 'http', host: settings.host, port: server.address.port, dir: settings.dir }, 'listening');
  ops.addPart(readableDirectoryPart('log directory', settings.dir));
  ops.serving();
  return {
    async stop() {
      ops.draining();
      await server.close();
      await ops.stop();
    },
    reload: async () => channelReload(channel, [server], log)?.(),
  };
}

export function logServe() {
  const cmd = serveCommand();
  cmd.action(() => runDaemonProcess('log-serve', cmd, (opts, log) => serveLog(logServeSettings(opts), log), 'log serve'));
  return cmd;
}
