// SIGTERM/SIGINT handling shared by every daemon: stop accepting, drain in-flight requests
// (each server bounds its own drain), close backends, flush the log, exit 0. A second signal
// exits at once.
import { pino, type Logger } from 'pino';
import { IN_FLIGHT_SETTLE_MS_MAX, LOG_FLUSH_MS_MAX, SHUTDOWN_CLOSE_MS_MAX } from '../limits.js';

/**
 * Flushes the log and exits. The stream is destroyed before exiting because pino's exit hook would
 * otherwise retry a broken write for ever when stdout's reader is gone (sonic-boom's flushSync loops
 * on EPIPE). The flush waits for the bytes to be written (logger.ts sets minLength), so nothing is
 * lost when stdout works; with a dead stdout nothing could be written anyway.
 */
export function exitAfterFlush(log: Logger, code: number): void {
  const exit = (): void => {
    const stream = (log as unknown as Record<symbol, { destroy?: () => void; destroyed?: boolean } | undefined>)[pino.symbols.streamSym];
    try {
      if (stream && !stream.destroyed) stream.destroy?.();
    } catch {
      // Exiting anyway.
    }
    process.exit(code);
  };
  setTimeout(exit, LOG_FLUSH_MS_MAX);
  try {
    log.flush(() => exit());
  } catch {
    exit();
  }
}

/**
 * How long a stop may take before the process exits anyway: past the daemon's own drain deadline, so
 * a long --drain-ms-max is honoured rather than cut by a fixed backstop (which then exited 1).
 */
export function shutdownBackstopMs(drainMsMax: number): number {
  return drainMsMax + IN_FLIGHT_SETTLE_MS_MAX + SHUTDOWN_CLOSE_MS_MAX;
}

export function onShutdownSignal(log: Logger, stop: () => Promise<void>, backstopMs: number): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal, exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'draining');
    // A backstop past every drain deadline: a stop that hangs must still end the process.
    setTimeout(() => {
      log.error('shutdown did not finish in time; exiting');
      exitAfterFlush(log, 1);
    }, backstopMs).unref();
    stop().then(
      () => {
        log.info('stopped');
        exitAfterFlush(log, 0);
      },
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        exitAfterFlush(log, 1);
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
