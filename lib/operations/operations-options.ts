// Command-line options of the operations listener (/metrics, /healthz, /readyz), shared by every
// daemon through the listen option group, and their typed settings. Off unless --metrics-port is given.
import type { Command, OptionValues } from '@commander-js/extra-typings';
import { DaemonError } from '../errors.js';
import { parsePort } from '../config/numbers.js';

export interface OperationsSettings {
  host: string;
  port: number;
}

export function addOperationsOptions<Args extends unknown[], Opts extends OptionValues>(cmd: Command<Args, Opts>) {
  return cmd
    .option('--metrics-port <port>', 'serve GET /metrics, /healthz and /readyz on this port (default: off; docs/metrics.md)', parsePort('--metrics-port'))
    .option('--metrics-host <address>', 'address of the metrics listener; beyond loopback only with --insecure-plaintext', '127.0.0.1');
}

type OperationsOptionValues = ReturnType<ReturnType<typeof addOperationsOptions<[], Record<never, never>>>['opts']>;

/** The listener's address, or null when metrics are off. */
export function operationsSettings(opts: OperationsOptionValues): OperationsSettings | null {
  if (opts.metricsHost.length === 0) throw new DaemonError('CONFIG_INVALID', '--metrics-host: empty');
  return opts.metricsPort === undefined ? null : { host: opts.metricsHost, port: opts.metricsPort };
}
