// Shutdown's last wait, shared by the line and HTTP servers: requests cut by the drain deadline may
// still be running (a store write, an HSM call); the daemon closes their backends once close() returns.
import { IN_FLIGHT_SETTLE_MS_MAX } from '../limits.js';

/** Resolves once `inFlight()` is 0, or after IN_FLIGHT_SETTLE_MS_MAX (a request that hangs must not hold the exit). */
export async function settleInFlight(inFlight: () => number): Promise<void> {
  for (const end = Date.now() + IN_FLIGHT_SETTLE_MS_MAX; inFlight() > 0 && Date.now() < end;) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
