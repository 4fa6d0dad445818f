// A token bucket per client: `rate` tokens a second, at most `rate` saved up (the burst). A request
// takes one token; opening a channel takes up to two, leaving a full bucket at least one for its first
// request (channel-guard.ts), so reconnecting in a loop is throttled first.

export interface TokenBucket {
  /** Takes `cost` tokens if there are that many; otherwise takes none and says when to retry. */
  take(cost: number, nowMs: number): { ok: true } | { ok: false; retryAfterMs: number };
}

export function createTokenBucket(ratePerSecond: number, nowMs: number): TokenBucket {
  let tokens = ratePerSecond;
  let lastMs = nowMs;
  return {
    take(asked, now) {
      const cost = Math.min(asked, ratePerSecond);
      // A clock read before the bucket was made (or a step back) refills nothing rather than draining it.
      const elapsedMs = Math.max(0, now - lastMs);
      tokens = Math.min(ratePerSecond, tokens + (elapsedMs * ratePerSecond) / 1000);
      lastMs = Math.max(lastMs, now);
      if (tokens >= cost) {
        tokens -= cost;
        return { ok: true };
      }
      return { ok: false, retryAfterMs: Math.ceil(((cost - tokens) * 1000) / ratePerSecond) };
    },
  };
}
