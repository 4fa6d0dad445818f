// A daemon logger whose lines land in an array instead of stdout, for servers started in-process:
// the same pino configuration as the daemons (lib/log/logger.ts), each line parsed once.
import type { Logger } from 'pino';
import { createLogger } from '../../lib/log/logger.js';

export interface MemoryLog {
  log: Logger;
  lines: Array<Record<string, unknown>>;
}

export function memoryLog(daemon: string, level = 'debug'): MemoryLog {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger(daemon, level, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { log, lines };
}
