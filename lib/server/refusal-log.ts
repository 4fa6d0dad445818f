// One warning for a burst of refused connections: the first refusal is logged at once, then at most
// one line a second per outcome with a count, so a flood of refusals never becomes a flood of log lines.
import type { Logger } from 'pino';

export interface RefusalLog {
  /**
   * `outcome`: a listed code. `reason`, for a channel's refusal only: who it was (a client's name, a
   * certificate's pin prefix); the first of a burst and the last of each count carry it.
   */
  note(outcome: string, reason?: string): void;
}

export function createRefusalLog(log: Logger, intervalMs = 1_000): RefusalLog {
  // Counted by outcome, and channel refusals apart: a burst of mixed refusals (UNAUTHENTICATED beside
  // FORBIDDEN, a client over its share beside the listener's cap, both BUSY) is told apart.
  const pending = new Map<string, { outcome: string; refused: number; reason: string | undefined }>();
  let timer: NodeJS.Timeout | undefined;
  const fields = (outcome: string, reason: string | undefined, reasonField: string) =>
    reason === undefined ? { outcome } : { outcome, channel: true, [reasonField]: reason };
  const flush = (): void => {
    timer = undefined;
    for (const { outcome, refused, reason } of pending.values()) log.warn({ ...fields(outcome, reason, 'lastReason'), refused }, 'connections refused');
    pending.clear();
  };
  return {
    note(outcome, reason) {
      if (timer === undefined) {
        log.warn({ ...fields(outcome, reason, 'reason'), refused: 1 }, 'connection refused');
        timer = setTimeout(flush, intervalMs);
        timer.unref();
        return;
      }
      const key = reason === undefined ? outcome : `channel ${outcome}`;
      pending.set(key, { outcome, refused: (pending.get(key)?.refused ?? 0) + 1, reason });
    },
  };
}
