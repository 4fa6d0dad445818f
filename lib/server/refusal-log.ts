// One warning for a burst of refused connections: the first refusal is logged at once, then at most
// one line a second per outcome with a count, so a flood of refusals never becomes a flood of log lines.
import type { Logger } from 'pino';

export interface RefusalLog {
  /** `reason`: what to say of this refusal (a channel's: who it was); the first of a burst and the last of each count carry it. */
  note(outcome: string, reason?: string): void;
}

export function createRefusalLog(log: Logger, intervalMs = 1_000): RefusalLog {
  // Counted by outcome: a burst of mixed refusals (UNAUTHENTICATED beside FORBIDDEN) is told apart.
  const pending = new Map<string, { refused: number; reason: string | undefined }>();
  let timer: NodeJS.Timeout | undefined;
  const flush = (): void => {
    timer = undefined;
    for (const [outcome, { refused, reason }] of pending)
      log.warn({ outcome, refused, ...(reason === undefined ? {} : { lastReason: reason }) }, 'connections refused');
    pending.clear();
  };
  return {
    note(outcome, reason) {
      if (timer === undefined) {
        log.warn({ outcome, refused: 1, ...(reason === undefined ? {} : { reason }) }, 'connection refused');
        timer = setTimeout(flush, intervalMs);
        timer.unref();
        return;
      }
      pending.set(outcome, { refused: (pending.get(outcome)?.refused ?? 0) + 1, reason });
    },
  };
}
