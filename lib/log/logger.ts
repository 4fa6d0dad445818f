// The process logger: pino JSON on stdout (journald captures it), one base line shape for all daemons.
// Redaction is a safety net only; secrets are never put into log objects in the first place.
import { pino, type Logger, type Level } from 'pino';
import { LOG_BUFFER_BYTES_MAX, LOG_DROP_REPORT_MS } from '../limits.js';

export const LOG_LEVELS: readonly Level[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

export function createLogger(daemon: string, level: string, destination?: pino.DestinationStream): Logger {
  // minLength 1 still writes every line at once, but makes flush(cb) wait until the bytes are
  // written (or failed), which the shutdown path relies on (lib/server/shutdown.ts). maxLength bounds
  // what waits for a stdout that does not keep up (a stalled journald, a reader gone to sleep):
  // past it lines are dropped and counted, never buffered without limit.
  const stream = destination ?? pino.destination({ dest: 1, sync: false, minLength: 1, maxLength: LOG_BUFFER_BYTES_MAX });
  const log = pino(
    {
      level,
      base: { daemon, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Exact paths only: wildcard redaction runs on every request line and costs real throughput.
      redact: { paths: ['pin', 'password', 'secret', 'passphrase', 'err.pin', 'err.password', 'err.secret'], censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
      // An error is serialised as pino does; a record already reduced to plain fields (a fault's
      // repeat, lib/server/request-log.ts) is kept as it is, not given an empty stack.
      serializers: { err: (value: unknown) => (value instanceof Error ? pino.stdSerializers.err(value) : value) },
    },
    stream,
  );
  if (destination === undefined) reportDrops(stream as unknown as NodeJS.EventEmitter, log);
  return log;
}

/** Says how many lines stdout lost, once it takes lines again (the report itself may be dropped and recounted). */
function reportDrops(stream: NodeJS.EventEmitter, log: Logger): void {
  let dropped = 0;
  let timer: NodeJS.Timeout | undefined;
  stream.on('drop', () => {
    dropped++;
    timer ??= setTimeout(() => {
      timer = undefined;
      const count = dropped;
      dropped = 0;
      log.warn({ dropped: count }, 'log lines dropped: stdout did not keep up');
    }, LOG_DROP_REPORT_MS).unref();
  });
}
