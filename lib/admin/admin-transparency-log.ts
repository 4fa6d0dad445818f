// The transparency log of an admin command that changes state (revoke, reinstate, import, tezos
// watermark set/import): its options, and one open → append → close per run; close publishes the
// checkpoint that covers the command's entries.
import type { Command, OptionValues } from '@commander-js/extra-typings';
import { DEFAULT_LIMITS, LOG_BATCH_ENTRIES_MAX } from '../limits.js';
import {
  addTransparencyLogDirOption,
  addTransparencyLogKeyOptions,
  openLogKeys,
  openLogWithKeys,
  transparencyLogSettings,
} from '../config/transparency-log-options.js';
import type { TransparencyLog } from '../transparency/transparency-log.js';
import type { LogEvent } from '../transparency/log-entry.js';

/** What an admin command records; `source` is always `admin`. */
export type AdminEvent = LogEvent extends infer E ? (E extends LogEvent ? Omit<E, 'source'> : never) : never;

export interface AdminLog {
  /** Resolves once every entry is durable; LOG_UNAVAILABLE otherwise. */
  record(events: readonly AdminEvent[]): Promise<void>;
}

export function addAdminLogOptions<Args extends unknown[], Opts extends OptionValues>(cmd: Command<Args, Opts>) {
  return addTransparencyLogKeyOptions(addTransparencyLogDirOption(cmd));
}

export type AdminLogOptionValues = ReturnType<ReturnType<typeof addAdminLogOptions<[], Record<never, never>>>['opts']>;

/**
 * Runs with the log the options name; without --transparency-log, `run` gets null. The log key is
 * opened first, so a wrong key or name stops the command before anything changes. The log itself
 * (its lock, its reconcile) opens with the first entry: a revoke or a raised mark is made before it is
 * logged and must never wait for the log (an outage then exits 69: done, not logged), while what is
 * logged first (reinstate, import, a forced mark) still has its entry before any change.
 */
export async function withAdminLog<T>(opts: AdminLogOptionValues, run: (log: AdminLog | null) => Promise<T>): Promise<T> {
  const settings = transparencyLogSettings(opts);
  if (settings === null) return run(null);
  const signers = await openLogKeys(settings, { callMsMax: DEFAULT_LIMITS.backendCallMsMax });
  // Set from inside `record`: a holder, so the finally below sees it.
  const held: { log: Promise<TransparencyLog> | null } = { log: null };
  try {
    return await run({
      async record(events) {
        held.log ??= openLogWithKeys(settings, signers, {});
        const log = await held.log;
        // Appends made together share a commit; a batch at a time stays under the log's queue bound
        // (an import of any size), and each batch is durable before the next is offered.
        for (let at = 0; at < events.length; at += LOG_BATCH_ENTRIES_MAX) {
          await Promise.all(events.slice(at, at + LOG_BATCH_ENTRIES_MAX).map((event) => log.append({ ...event, source: 'admin' })));
        }
      },
    });
  } finally {
    // The log owns the keys once opened (a failed open closed them too); otherwise they are ours.
    if (held.log === null) await Promise.all(signers.map(async (s) => s.close?.()));
    else await (await held.log.catch(() => null))?.close();
  }
}
