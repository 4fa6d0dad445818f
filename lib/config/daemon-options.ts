// Command-line options every line-protocol daemon shares (listen address, limits, reply form,
// logging), and their translation into typed settings. Defaults live in lib/limits.ts.
// Option values are typed from the declarations (@commander-js/extra-typings): a misspelt option
// name is a compile error, and each settings function reads only the options its group declares.
import { Command, Option, type OptionValues } from '@commander-js/extra-typings';
import { DaemonError } from '../errors.js';
import { DEFAULT_LIMITS, INPUT_HELD_BYTES_MAX, type Limits } from '../limits.js';
import type { ConnectionMode } from '../server/line-connection.js';
import type { TcpServerOptions } from '../server/serve-tcp.js';
import type { RequestLogMode } from '../server/request-log.js';
import type { ReplyMode } from '../protocol/reply-format.js';
import { LOG_LEVELS } from '../log/logger.js';
import { parseCount, parseMilliseconds, parsePort } from './numbers.js';
import { addChannelOptions, channelPolicy, type ChannelPolicy } from '../channels/channel-options.js';
import { addOperationsOptions, operationsSettings, type OperationsSettings } from '../operations/operations-options.js';

export interface ListenSettings {
  host: string;
  port: number;
  mode: ConnectionMode;
  reply: ReplyMode;
  limits: Limits;
  logLevel: string;
  /** TLS client channels, or plaintext (loopback unless --insecure-plaintext). */
  policy: ChannelPolicy;
  /** The /metrics, /healthz, /readyz listener, or null when off (lib/operations). */
  operations: OperationsSettings | null;
  /** --request-log, when given; each daemon has its own default (hmac: summary, the others: each). */
  requestLog: RequestLogMode | undefined;
}

/** What a line listener takes from the listen settings; the daemon adds its log, service, channel and metrics. */
export function tcpListenOptions(listen: ListenSettings): Pick<TcpServerOptions, 'host' | 'port' | 'mode' | 'limits' | 'policy' | 'requestLog'> {
  return { host: listen.host, port: listen.port, mode: listen.mode, limits: listen.limits, policy: listen.policy, requestLog: listen.requestLog };
}

export function addListenOptions<Args extends unknown[], Opts extends OptionValues>(cmd: Command<Args, Opts>, defaultPort: number) {
  return addOperationsOptions(addChannelOptions(cmd))
    .option('--config <file>', 'JSON file of options (camelCase long names); command-line options win')
    .option('--host <address>', 'address to listen on; beyond loopback only with TLS (--tls-cert) or --insecure-plaintext', '127.0.0.1')
    .option('--port <port>', 'TCP port of the line protocol', parsePort('--port'), defaultPort)
    .option(
      '--keep-open',
      'keep connections open for request after request, until the client closes or idles out (default: close after the answered lines, like the seed)',
    )
    .addOption(
      new Option('--reply <form>', 'reply form: seed text (compatible with the original clients) or one JSON object per line')
        .choices(['seed', 'json'] as const)
        .default('seed' as const),
    )
    .option(
      '--line-bytes-max <bytes>',
      'longest request line; longer gets ERR LINE_TOO_LONG and a close',
      // Past the input all connections may hold at once, a line could never be held whole.
      parseCount('--line-bytes-max', 1, INPUT_HELD_BYTES_MAX),
      DEFAULT_LIMITS.lineBytesMax,
    )
    .option('--connections-max <n>', 'open connections; one more gets ERR BUSY', parseCount('--connections-max', 1), DEFAULT_LIMITS.connectionsMax)
    .option('--in-flight-max <n>', 'requests processed at once across connections; others wait', parseCount('--in-flight-max', 1), DEFAULT_LIMITS.inFlightMax)
    .option('--idle-timeout-ms <ms>', 'close a connection idle this long', parseMilliseconds('--idle-timeout-ms', 1), DEFAULT_LIMITS.idleTimeoutMs)
    .option(
      '--line-ms-max <ms>',
      'a request line must be complete this long after its first byte; later gets ERR BAD_REQUEST and a close',
      parseMilliseconds('--line-ms-max', 1),
      DEFAULT_LIMITS.lineMsMax,
    )
    .option(
      '--linger-ms <ms>',
      'without --keep-open: wait this long for another line after the last reply before closing (0: close as soon as every line is answered)',
      parseMilliseconds('--linger-ms', 0),
      DEFAULT_LIMITS.lingerMs,
    )
    .option(
      '--drain-ms-max <ms>',
      'on SIGTERM, time allowed for in-flight requests before exit',
      parseMilliseconds('--drain-ms-max', 0),
      DEFAULT_LIMITS.drainMsMax,
    )
    .addOption(new Option('--log-level <level>', 'pino log level').choices(LOG_LEVELS).default('info'))
    .addOption(
      new Option(
        '--request-log <mode>',
        'each: one log record per request; summary: successful requests as one record a second (count, mean and max ms, per client), every error and refusal still one record each (default: summary for hmac, each for the others)',
      ).choices(['each', 'summary'] as const),
    );
}

/** The option values addListenOptions declares. */
export type ListenOptionValues = ReturnType<ReturnType<typeof addListenOptions<[], Record<never, never>>>['opts']>;

export function listenSettings(opts: ListenOptionValues): ListenSettings {
  if (opts.host.length === 0) throw new DaemonError('CONFIG_INVALID', '--host: empty');
  return {
    host: opts.host,
    port: opts.port,
    mode: opts.keepOpen ? 'keep-open' : 'one-shot',
    reply: opts.reply,
    logLevel: opts.logLevel,
    policy: channelPolicy(opts),
    operations: operationsSettings(opts),
    requestLog: opts.requestLog,
    limits: {
      ...DEFAULT_LIMITS,
      lineBytesMax: opts.lineBytesMax,
      connectionsMax: opts.connectionsMax,
      inFlightMax: opts.inFlightMax,
      idleTimeoutMs: opts.idleTimeoutMs,
      lineMsMax: opts.lineMsMax,
      lingerMs: opts.lingerMs,
      drainMsMax: opts.drainMsMax,
    },
  };
}

/** A required option's value: options are checked after the --config file is merged, so they may come from either. */
export function required<T>(value: T | undefined, flag: string): T {
  if (value === undefined || (Array.isArray(value) && value.length === 0)) {
    throw new DaemonError('CONFIG_INVALID', `${flag} is required (on the command line or in --config)`);
  }
  return value;
}
