// One warning for a burst of refused connections: the first refusal is logged at once, then at most
// one line a second per outcome with a count, so a flood of refusals never becomes a flood of log lines.
import type { Logger } from 'pino';

export interface RefusalLog {
  note(outcome: string): void;
}

export function createRefusalLog(log: Logger, intervalMs = 1_000): RefusalLog {
  // Counted by outcome: a burst of mixed refusals (UNAUTHENTICATED beside FORBIDDEN) is told apart.
  const pending = new Map<string, number>();
  let timer: NodeJS.Timeout | undefined;
  const flush = (): void => {
    timer = undefined;
    for (const [outcome, refused] of pending) log.warn({ outcome, refused }, 'connections refused');
    pending.clear();
  };
  return {
    note(outcome) {
      if (timer === undefined) {
        log.warn({ outcome, refused: 1 }, 'connection refused');
        timer = setTimeout(flush, intervalMs);
        timer.unref();
        return;
      }
      pending.set(outcome, (pending.get(outcome) ?? 0) + 1);
    },
  };
}
