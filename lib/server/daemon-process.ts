// Process-level wrapper for every daemon: tight umask, a logger, start-up failures reported as
// one clear line and exit 78 (EX_CONFIG, so systemd does not restart-loop), signals handled.
import type { Command, OptionValues } from '@commander-js/extra-typings';
import type { Logger } from 'pino';
import { EXIT_CONFIG, EXIT_UNAVAILABLE, isDaemonError, DaemonError } from '../errors.js';
import { applyConfigFile } from '../config/config-file.js';
import { checkStoreOptionsApply } from '../config/store-options.js';
import { createLogger } from '../log/logger.js';
import { exitAfterFlush, onReloadSignal, onShutdownSignal, shutdownBackstopMs } from './shutdown.js';
import { listensOn } from './own-ports.js';

/** What a started daemon hands back: how to stop it, and optionally how to reload on SIGHUP. */
export type DaemonHandle = (() => Promise<void>) | { stop(): Promise<void>; reload?(): Promise<void> };

/** What every daemon command declares: a --config file, a log level and a drain deadline (addListenOptions declares them). */
interface ProcessOptionValues extends OptionValues {
  config?: string | undefined;
  logLevel: string;
  drainMsMax: number;
}

export async function runDaemonProcess<Opts extends ProcessOptionValues>(
  name: string,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- any command's arguments and global options
  cmd: Command<any[], Opts, any>,
  start: (opts: Opts, log: Logger) => Promise<DaemonHandle>,
  /** How its start-up refusals name it, as typed (`log serve`); the daemon's name in logs and metrics is one word. */
  label = name,
): Promise<void> {
  // Files we create (databases, keys, exported records) are private to the service user.
  process.umask(0o077);
  // Node's default for SIGHUP is to exit: one that comes while the daemon starts (before its reload
  // handler is in place, even just after it logged "listening") must not kill it. It is kept and
  // run once the daemon has started.
  let reloadAsked = false;
  const early = (): void => void (reloadAsked = true);
  process.on('SIGHUP', early);
  let log: Logger | undefined;
  try {
    const configFile = cmd.opts().config;
    // eslint-disable-next-line @typescript-eslint/no-unsafe-argument -- the command's own arguments are not what a config file sets
    if (configFile) applyConfigFile(cmd, configFile);
    // eslint-disable-next-line @typescript-eslint/no-unsafe-argument -- any command's store options, read by name
    checkStoreOptionsApply(cmd);
    const opts = cmd.opts();
    log = createLogger(name, opts.logLevel);
    const handle = await start(opts, log);
    const stop = typeof handle === 'function' ? handle : () => handle.stop();
    const reload = typeof handle === 'function' || !handle.reload ? undefined : () => handle.reload!();
    onShutdownSignal(log, stop, shutdownBackstopMs(opts.drainMsMax));
    onReloadSignal(log, reload);
    process.off('SIGHUP', early);
    if (reloadAsked) process.emit('SIGHUP', 'SIGHUP');
  } catch (thrown) {
    const { err, status } = startupFailure(thrown);
    log?.fatal({ outcome: err.code, err: err.message }, 'start-up failed');
    process.stderr.write(`signerd ${label}: ${err.code}: ${err.message}\n`);
    if (log) exitAfterFlush(log, status);
    else process.exit(status);
  }
}

/**
 * What a start-up failure is, and the exit status that says so. A port another process still holds
 * (the previous instance not yet gone) or an address not yet up (the network is coming) may pass on
 * the next try: exit 69, not 78, which the units keep systemd from restarting. A port given to two of
 * this daemon's own listeners never will.
 */
function startupFailure(thrown: unknown): { err: DaemonError; status: number } {
  // The listen error itself, or the one a DaemonError was made from.
  const errno = (isDaemonError(thrown) ? thrown.cause : thrown) as NodeJS.ErrnoException | null | undefined;
  const transient = (errno?.code === 'EADDRINUSE' || errno?.code === 'EADDRNOTAVAIL') && !ownPortTaken(errno);
  return { err: startupError(thrown), status: transient ? EXIT_UNAVAILABLE : EXIT_CONFIG };
}

/** EADDRINUSE on a port this process listens on already: two of its listeners were given one port. */
function ownPortTaken(err: NodeJS.ErrnoException | null | undefined): boolean {
  const port = (err as { port?: unknown } | null | undefined)?.port;
  return err?.code === 'EADDRINUSE' && typeof port === 'number' && listensOn(port);
}

function startupError(thrown: unknown): DaemonError {
  if (isDaemonError(thrown)) return thrown;
  const code = (thrown as NodeJS.ErrnoException)?.code;
  if (ownPortTaken(thrown as NodeJS.ErrnoException)) {
    return new DaemonError('CONFIG_INVALID', `cannot listen: port ${(thrown as { port: number }).port} is given to two of this daemon's listeners`, {
      cause: thrown,
    });
  }
  if (code === 'EADDRINUSE' || code === 'EADDRNOTAVAIL' || code === 'EACCES') {
    return new DaemonError('CONFIG_INVALID', `cannot listen: ${code} (${(thrown as Error).message})`, { cause: thrown });
  }
  return new DaemonError('CONFIG_INVALID', (thrown as Error)?.message ?? String(thrown), { cause: thrown });
}
