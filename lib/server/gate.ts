// A counting gate: at most `max` holders at once; the rest wait in two arrival-ordered queues.
// Requests from connections that have had little service ("fresh": a one-shot client, a new
// connection) go ahead of those from connections that have had much ("bulk": a flood, a busy
// pipeline), so a flood delays a newcomer by at most the work in flight, while bulk still gets
// one place in every FRESH_PER_BULK + 1 when both wait: nobody starves.

export interface Gate {
  /** Takes a place if one is free now; the caller then skips a promise turn per request. */
  tryAcquire(): boolean;
  acquire(fresh: boolean): Promise<void>;
  release(): void;
  readonly inFlight: number;
  readonly waiting: number;
}

/** When both queues wait, this many fresh requests are let in for each bulk one. */
const FRESH_PER_BULK = 3;

export function createGate(max: number): Gate {
  let inFlight = 0;
  let freshStreak = 0;
  const fresh: Array<() => void> = [];
  const bulk: Array<() => void> = [];
  // A free place exists only when nobody waits: release() hands a place straight to a waiter.
  const tryAcquire = (): boolean => {
    if (inFlight >= max) return false;
    inFlight++;
    return true;
  };
  const nextWaiter = (): (() => void) | undefined => {
    if (fresh.length > 0 && (bulk.length === 0 || freshStreak < FRESH_PER_BULK)) {
      freshStreak++;
      return fresh.shift();
    }
    freshStreak = 0;
    return bulk.shift();
  };
  return {
    tryAcquire,
    acquire(isFresh) {
      if (tryAcquire()) return Promise.resolve();
      return new Promise<void>((resolve) => (isFresh ? fresh : bulk).push(resolve));
    },
    release() {
      const next = nextWaiter();
      if (next) next();
      else inFlight--;
    },
    get inFlight() {
      return inFlight;
    },
    get waiting() {
      return fresh.length + bulk.length;
    },
  };
}
