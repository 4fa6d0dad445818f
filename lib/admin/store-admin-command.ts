// The shape every store admin command shares (validity records, tezos watermarks): store options
// or a --config file, open the store and wait for it, run, one clear stderr line on failure, exit status.
import { Command, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { DaemonError, EXIT_CONFIG, isDaemonError } from '../errors.js';
import { applyConfigFile } from '../config/config-file.js';
import { addStoreOptions, storeSettings, type StoreOptionValues, type StoreSettings } from '../config/store-options.js';
import type { DurabilityLog } from '../store/redis-durability.js';

/** Exit status when the store did not answer (sysexits EX_UNAVAILABLE): scripts can retry on it. */
const EXIT_STORE_UNAVAILABLE = 69;

export interface StoreAdminSpec<S extends { ready(msMax: number): Promise<boolean>; close(): Promise<void> }> {
  name: string;
  description: string;
  /** How the command names itself in error lines, e.g. `signerd revoke`. */
  label: string;
  configHelp: string;
  /** Admin commands of the sign/verify stores read the daemon's own config file, ignoring its other options. */
  configIgnoresUnknown: boolean;
  /** `log` takes warnings the operator must see (e.g. --redis-allow-volatile); it writes to stderr. */
  open(settings: StoreSettings, log: DurabilityLog): S;
  run(store: S, args: string[], opts: Record<string, unknown>): Promise<number>;
}

export function storeAdminCommand<S extends { ready(msMax: number): Promise<boolean>; close(): Promise<void> }>(spec: StoreAdminSpec<S>): CommandUnknownOpts {
  const cmd: CommandUnknownOpts = addStoreOptions(new Command(spec.name).description(spec.description).option('--config <file>', spec.configHelp));
  cmd.action(async () => {
    let store: S | undefined;
    try {
      const configFile = cmd.opts()['config'] as string | undefined;
      if (configFile) applyConfigFile(cmd, configFile, { ignoreUnknown: spec.configIgnoresUnknown });
      const settings = storeSettings(cmd.opts() as StoreOptionValues);
      store = spec.open(settings, stderrLog(spec.label));
      if (!(await store.ready(settings.timeoutMs + 2_000))) throw new DaemonError('STORE_UNAVAILABLE', `the ${settings.kind} store did not answer`);
      process.exitCode = await spec.run(store, cmd.args, cmd.opts());
    } catch (err) {
      process.stderr.write(`${spec.label}: ${isDaemonError(err) ? `${err.code}: ${err.message}` : (err as Error).message}\n`);
      process.exitCode = isDaemonError(err) && err.code === 'STORE_UNAVAILABLE' ? EXIT_STORE_UNAVAILABLE : EXIT_CONFIG;
    } finally {
      await store?.close();
    }
  });
  return cmd;
}

function stderrLog(label: string): DurabilityLog {
  return {
    warn(fields, msg) {
      process.stderr.write(`${label}: warning: ${msg} ${JSON.stringify(fields)}\n`);
    },
  };
}
