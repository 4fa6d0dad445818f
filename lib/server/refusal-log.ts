// One warning for a burst of refused connections: the first refusal is logged at once, then at most
// one line a second with a count, so a flood of refusals never becomes a flood of log lines.
import type { Logger } from 'pino';

export interface RefusalLog {
  note(outcome: string): void;
}

export function createRefusalLog(log: Logger, intervalMs = 1_000): RefusalLog {
  let pending = 0;
  let lastOutcome = '';
  let timer: NodeJS.Timeout | undefined;
  const flush = (): void => {
    timer = undefined;
    if (pending > 0) log.warn({ outcome: lastOutcome, refused: pending }, 'connections refused');
    pending = 0;
  };
  return {
    note(outcome) {
      lastOutcome = outcome;
      if (timer === undefined) {
        log.warn({ outcome, refused: 1 }, 'connection refused');
        timer = setTimeout(flush, intervalMs);
        timer.unref();
        return;
      }
      pending++;
    },
  };
}
