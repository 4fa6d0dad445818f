// The start-up wait of a shared store (PostgreSQL, etcd): try until it answers or the deadline
// passes (an outage: the daemon serves STORE_UNAVAILABLE until it heals), but fail the start at
// once when the server refused us for good (credentials, TLS), which no retry would mend.
import { DaemonError } from '../errors.js';

/** Between attempts while ready() waits. */
const READY_RETRY_MS = 200;

/**
 * Resolves true once `attempt` succeeds, false when msMax runs out. A DaemonError from `attempt`
 * (the store's own start-up check) is thrown as it is; an error `refusalOf` names becomes
 * CONFIG_INVALID `<store> refused the connection: <reason>`.
 */
export async function waitUntilReady(
  store: string,
  msMax: number,
  attempt: () => Promise<unknown>,
  refusalOf: (err: unknown) => string | null,
): Promise<boolean> {
  const deadline = Date.now() + msMax;
  for (;;) {
    try {
      await attempt();
      return true;
    } catch (err) {
      if (err instanceof DaemonError) throw err;
      const refusal = refusalOf(err);
      if (refusal !== null) throw new DaemonError('CONFIG_INVALID', `${store} refused the connection: ${refusal}`, { cause: err });
      if (Date.now() + READY_RETRY_MS >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, READY_RETRY_MS));
    }
  }
}
