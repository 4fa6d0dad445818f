// The process logger: pino JSON on stdout (journald captures it), one base line shape for all daemons.
// Redaction is a safety net only; secrets are never put into log objects in the first place.
import { pino, type Logger, type Level } from 'pino';

export const LOG_LEVELS: readonly Level[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

export function createLogger(daemon: string, level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { daemon, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Exact paths only: wildcard redaction runs on every request line and costs real throughput.
      redact: { paths: ['pin', 'password', 'secret', 'passphrase', 'err.pin', 'err.password', 'err.secret'], censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    // minLength 1 still writes every line at once, but makes flush(cb) wait until the bytes are
    // written (or failed), which the shutdown path relies on (lib/server/shutdown.ts).
    destination ?? pino.destination({ dest: 1, sync: false, minLength: 1 }),
  );
}
