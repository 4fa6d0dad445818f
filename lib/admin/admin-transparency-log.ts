// The transparency log of an admin command that changes state (revoke, reinstate, import, tezos
// watermark set/import): its options, and one open → append → close per run; close publishes the
// checkpoint that covers the command's entries.
import type { Command, OptionValues } from '@commander-js/extra-typings';
import { DEFAULT_LIMITS } from '../limits.js';
import {
  addTransparencyLogDirOption,
  addTransparencyLogKeyOptions,
  openConfiguredTransparencyLog,
  transparencyLogSettings,
} from '../config/transparency-log-options.js';
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
 * Opens the log the options name (before anything changes, so a wrong key or directory stops the
 * command first), runs, and closes it. Without --transparency-log, `run` gets null.
 */
export async function withAdminLog<T>(opts: AdminLogOptionValues, run: (log: AdminLog | null) => Promise<T>): Promise<T> {
  const settings = transparencyLogSettings(opts);
  if (settings === null) return run(null);
  const log = await openConfiguredTransparencyLog(settings, { callMsMax: DEFAULT_LIMITS.backendCallMsMax });
  try {
    return await run({
      async record(events) {
        // One commit for the lot: appends made together share it.
        await Promise.all(events.map((event) => log.append({ ...event, source: 'admin' })));
      },
    });
  } finally {
    await log.close();
  }
}
