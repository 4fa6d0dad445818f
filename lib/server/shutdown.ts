// SIGTERM/SIGINT handling shared by every daemon: stop accepting, drain in-flight requests
// (each server bounds its own drain), close backends, flush the log, exit 0. A second signal
// exits at once.
import type { Logger } from 'pino';

export function onShutdownSignal(log: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal, exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'draining');
    stop().then(
      () => {
        log.info('stopped');
        log.flush(() => process.exit(0));
      },
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        log.flush(() => process.exit(1));
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}

/**
 * SIGHUP (systemctl reload): runs the daemon's reload if it has one; otherwise it is logged and
 * ignored, because Node's default for SIGHUP is to exit, and a reload must never stop a signer.
 */
export function onReloadSignal(log: Logger, reload: (() => Promise<void>) | undefined): void {
  process.on('SIGHUP', () => {
    if (!reload) {
      log.info('SIGHUP: nothing to reload in this daemon; ignored');
      return;
    }
    reload().then(
      () => log.info('reloaded'),
      (err: unknown) => log.error({ err: (err as Error).message }, 'reload failed; keeping the previous configuration'),
    );
  });
}
