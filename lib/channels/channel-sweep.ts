// The periodic recheck of a listener's open channels (line or HTTP): a client removed from the
// registry, past its not-after or its max-session loses its open channel within CHANNEL_SWEEP_MS, or
// at once after a registry reload.
import type { Logger } from 'pino';
import type { DaemonError } from '../errors.js';
import { CHANNEL_SWEEP_MS } from '../limits.js';
import type { ChannelClient, ChannelGuard } from './channel-guard.js';

/** One open, admitted channel as its server holds it. */
export interface OpenChannel {
  client: ChannelClient;
  close(refusal: DaemonError): void;
}

export interface ChannelSweep {
  /** Rechecks every open channel now (after a reload). */
  sweep(): void;
  stop(): void;
}

/** Sweeps `open()` every CHANNEL_SWEEP_MS; with no channel (plaintext) it does nothing. */
export function startChannelSweep(channel: ChannelGuard | null, open: () => Iterable<OpenChannel>, log: Logger): ChannelSweep {
  if (!channel) return { sweep: () => undefined, stop: () => undefined };
  const sweep = (): void => {
    for (const c of open()) {
      const refusal = channel.recheck(c.client);
      if (refusal) {
        log.info({ client: c.client.name, outcome: refusal.code, reason: refusal.message }, 'channel closed');
        c.close(refusal);
      }
    }
  };
  const timer = setInterval(sweep, CHANNEL_SWEEP_MS).unref();
  return { sweep, stop: () => clearInterval(timer) };
}
