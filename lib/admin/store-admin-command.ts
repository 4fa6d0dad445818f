// The shape every store admin command shares (validity records, tezos watermarks): store options
// or a --config file, open the store and wait for it, run, one clear stderr line on failure, exit status.
import { Command, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { DaemonError, EXIT_CONFIG, failureLine, isDaemonError } from '../errors.js';
import { applyConfigFile } from '../config/config-file.js';
import { addStoreOptions, checkStoreOptionsApply, storeSettings, type StoreOptionValues, type StoreSettings } from '../config/store-options.js';
import type { DurabilityLog } from '../store/redis-durability.js';

/** Exit status when the store did not answer (sysexits EX_UNAVAILABLE): scripts can retry on it. */
const EXIT_STORE_UNAVAILABLE = 69;

/** A store the admin commands can wait for and close. */
interface ClosableStore {
  ready(msMax: number): Promise<boolean>;
  close(): Promise<void>;
}

/** How one family of admin commands opens its store and names itself in error lines. */
export interface StoreAdminSpec<S extends ClosableStore> {
  /** How the command names itself in error lines, e.g. `signerd revoke`. */
  label: string;
  /** Admin commands of the sign/verify stores read the daemon's own config file, ignoring its other options. */
  configIgnoresUnknown: boolean;
  /** The daemon's options a config file may hold beside the store's (skipped; any other name is an error). */
  configAlsoKnown?: () => string[];
  /** `log` takes warnings the operator must see (e.g. --redis-allow-volatile); it writes to stderr. */
  open(settings: StoreSettings, log: DurabilityLog): S | Promise<S>;
}

/** A command with the store options and a --config file; the caller adds its arguments, options and action. */
export function storeCommand(name: string, description: string, configHelp: string) {
  return addStoreOptions(new Command(name).description(description).option('--config <file>', configHelp));
}

/**
 * The action of a store admin command: merge the --config file, open the store and wait for it,
 * run, then one clear stderr line on failure and the exit status (69 when the store did not
 * answer, so scripts can retry; 78 for everything else that went wrong).
 */
export async function runStoreAdmin<S extends ClosableStore, Opts extends StoreOptionValues & { config?: string | undefined }>(
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- any command's arguments and global options
  cmd: Command<any[], Opts, any>,
  spec: StoreAdminSpec<S>,
  run: (store: S, opts: Opts) => Promise<number>,
): Promise<void> {
  let store: S | undefined;
  try {
    const configFile = cmd.opts().config;
    // eslint-disable-next-line @typescript-eslint/no-unsafe-argument -- the command's own arguments are not what a config file sets
    if (configFile) applyConfigFile(cmd, configFile, { ignoreUnknown: spec.configIgnoresUnknown, alsoKnown: spec.configAlsoKnown?.() ?? [] });
    // eslint-disable-next-line @typescript-eslint/no-unsafe-argument -- any command's store options, read by name
    checkStoreOptionsApply(cmd);
    const opts = cmd.opts();
    const settings = storeSettings(opts);
    store = await spec.open(settings, stderrLog(spec.label));
    if (!(await store.ready(settings.timeoutMs + 2_000))) throw new DaemonError('STORE_UNAVAILABLE', `the ${settings.kind} store did not answer`);
    process.exitCode = await run(store, opts);
  } catch (err) {
    process.stderr.write(failureLine(spec.label, err));
    // The transparency log not answering is an outage too (the change may be done; see the command's message).
    process.exitCode = isDaemonError(err) && (err.code === 'STORE_UNAVAILABLE' || err.code === 'LOG_UNAVAILABLE') ? EXIT_STORE_UNAVAILABLE : EXIT_CONFIG;
  } finally {
    await store?.close();
  }
}

/** The older shape of the same: a spec with the run callback, options added by the caller afterwards (untyped). */
export interface LegacyStoreAdminSpec<S extends ClosableStore> extends StoreAdminSpec<S> {
  name: string;
  description: string;
  configHelp: string;
  run(store: S, args: string[], opts: Record<string, unknown>): Promise<number>;
}

export function storeAdminCommand<S extends ClosableStore>(spec: LegacyStoreAdminSpec<S>): CommandUnknownOpts {
  const cmd: CommandUnknownOpts = storeCommand(spec.name, spec.description, spec.configHelp);
  cmd.action(() => runStoreAdmin(cmd as Command<[], StoreOptionValues & { config?: string }>, spec, (store, opts) => spec.run(store, cmd.args, opts)));
  return cmd;
}

function stderrLog(label: string): DurabilityLog {
  return {
    warn(fields, msg) {
      process.stderr.write(`${label}: warning: ${msg} ${JSON.stringify(fields)}\n`);
    },
  };
}
