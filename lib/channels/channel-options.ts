// Command-line options of client channels, shared by every daemon and all its listeners (line and
// HTTP): --tls-cert/--tls-key make them TLS 1.3 only, --clients names who may connect. Without TLS a
// daemon binds loopback only, unless --insecure-plaintext says otherwise.
import net from 'node:net';
import type { Command, OptionValues } from '@commander-js/extra-typings';
import { DaemonError } from '../errors.js';

/** --open-rate when not given: requests per second per identity on an open service. */
const OPEN_RATE_PER_SECOND = 10;

export function addChannelOptions<Args extends unknown[], Opts extends OptionValues>(cmd: Command<Args, Opts>) {
  return cmd
    .option('--tls-cert <file>', 'server certificate (PEM): every listener of this daemon becomes TLS 1.3 only (docs/channels.md)')
    .option('--tls-key <file>', 'private key of --tls-cert (PEM, mode 0600)')
    .option('--clients <file|open>', 'client registry (one client per line: <name> cert-sha256:<hex>|psk:<hex> [options]); "open": any client certificate')
    .option('--open-rate <n/s>', `--clients open: requests per second per client certificate (default ${OPEN_RATE_PER_SECOND}/s)`, parseRate)
    .option(
      '--insecure-plaintext',
      'allow a listener without TLS on an address other than loopback (anyone who reaches it can use it: sign, on a signing daemon)',
    );
}

type ChannelOptionValues = ReturnType<ReturnType<typeof addChannelOptions<[], Record<never, never>>>['opts']>;

export interface ChannelSettings {
  certFile: string;
  keyFile: string;
  /** A registry file, or 'open' (any client certificate, identified by its pin). */
  clients: string;
  /** --clients open: requests per second per identity. */
  openRatePerSecond: number;
}

export interface ChannelPolicy {
  /** Null: plaintext listeners. */
  channel: ChannelSettings | null;
  /** Plaintext may bind to addresses other than loopback. */
  insecurePlaintext: boolean;
}

export function channelPolicy(opts: ChannelOptionValues): ChannelPolicy {
  const insecurePlaintext = opts.insecurePlaintext === true;
  if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) throw new DaemonError('CONFIG_INVALID', '--tls-cert and --tls-key go together');
  if (opts.tlsCert === undefined || opts.tlsKey === undefined) {
    if (opts.clients !== undefined) throw new DaemonError('CONFIG_INVALID', '--clients needs TLS: give --tls-cert and --tls-key');
    return { channel: null, insecurePlaintext };
  }
  // A TLS daemon without a registry would serve anyone who reaches it: say who may connect, or say "open".
  if (opts.clients === undefined)
    throw new DaemonError('CONFIG_INVALID', 'TLS needs a client registry: --clients <file>, or --clients open to serve any client certificate');
  if (opts.openRate !== undefined && opts.clients !== 'open') throw new DaemonError('CONFIG_INVALID', '--open-rate applies to --clients open');
  return {
    channel: { certFile: opts.tlsCert, keyFile: opts.tlsKey, clients: opts.clients, openRatePerSecond: opts.openRate ?? OPEN_RATE_PER_SECOND },
    insecurePlaintext,
  };
}

/** Refuses a plaintext listener on anything but loopback unless the operator said --insecure-plaintext. */
export function checkPlaintextBind(host: string, policy: ChannelPolicy, log: { warn(fields: object, msg: string): void }): void {
  if (policy.channel !== null || isLoopback(host)) return;
  if (policy.insecurePlaintext) {
    // Allowed, and said at every start: the journal must show that this signer is exposed.
    log.warn({ host }, 'listening in plaintext beyond loopback (--insecure-plaintext): anyone who can reach this address can use it');
    return;
  }
  throw new DaemonError(
    'CONFIG_INVALID',
    `refusing to listen on ${host} without TLS: anyone who can reach it could use this daemon. Give --tls-cert, --tls-key and --clients (docs/channels.md), or --insecure-plaintext`,
  );
}

/** Whether a host name or address stays on this machine. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (net.isIPv4(host)) return host.startsWith('127.');
  if (net.isIPv6(host)) return host === '::1' || /^::ffff:127\./i.test(host);
  return false;
}

function parseRate(value: string): number {
  const m = /^([1-9][0-9]{0,6})(\/s)?$/.exec(value);
  if (!m) throw new DaemonError('CONFIG_INVALID', `--open-rate: expected <n>/s, e.g. 20/s, got "${value}"`);
  return Number(m[1]);
}
