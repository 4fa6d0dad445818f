// A counting gate: at most `max` holders at once, the rest wait in arrival order.
// Bounds work in flight across all connections without refusing anyone outright.

export interface Gate {
  /** Takes a place if one is free now; the caller then skips a promise turn per request. */
  tryAcquire(): boolean;
  acquire(): Promise<void>;
  release(): void;
  readonly inFlight: number;
}

export function createGate(max: number): Gate {
  let inFlight = 0;
  const waiting: Array<() => void> = [];
  // A free place exists only when nobody waits: release() hands a place straight to a waiter.
  const tryAcquire = (): boolean => {
    if (inFlight >= max) return false;
    inFlight++;
    return true;
  };
  return {
    tryAcquire,
    acquire() {
      if (tryAcquire()) return Promise.resolve();
      return new Promise<void>((resolve) => waiting.push(resolve));
    },
    release() {
      const next = waiting.shift();
      if (next) next();
      else inFlight--;
    },
    get inFlight() {
      return inFlight;
    },
  };
}
