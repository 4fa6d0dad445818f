// The options of `signerd tezos serve` (keys, the HTTP listener, the Redis host floor, the payload
// size, beside the shared listen and store options) and their translation into one validated settings object.
import { Command, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { DaemonError } from '../../../lib/errors.js';
import { addListenOptions, listenSettings, required, type ListenSettings } from '../../../lib/config/daemon-options.js';
import { addStoreOptions, storeSettings, type StoreSettings } from '../../../lib/config/store-options.js';
import { parseCount, parsePort } from '../../../lib/config/numbers.js';
import { TEZOS_PAYLOAD_BYTES_CEILING, TEZOS_PAYLOAD_BYTES_MAX } from '../tezos-limits.js';
import {
  addTransparencyLogDirOption,
  addTransparencyLogKeyOptions,
  transparencyLogSettings,
  type TransparencyLogSettings,
} from '../../../lib/config/transparency-log-options.js';

const LINE_PORT = 9732;
/** octez's default port of the remote signer's HTTP API. */
export const HTTP_PORT = 6732;
/** A request line must hold `sign <pkh> <hex of the largest payload> <options>`. */
const lineBytesFor = (payloadBytes: number): number => 2 * payloadBytes + 1024;

/** Everything `signerd tezos serve` is configured with, validated once. */
export interface TezosServeSettings {
  /** The line listener, with the line and HTTP body limits fitted to the largest payload. */
  listen: ListenSettings;
  store: StoreSettings;
  /** Redis only: the state directory of the host floor; null without one (SQLite, or --no-redis-local-floor). */
  hostFloorDir: string | null;
  /** SQLite: a --state-dir without a watermark store may be given one (a first start); otherwise it is refused. */
  initWatermarks: boolean;
  keysFile: string;
  passphraseFile: string | null;
  payloadBytesMax: number;
  line: boolean;
  /** null: --no-http. A null host or port comes from keys.json (bind_addr, bind_port), else from --host and 6732. */
  http: { host: string | null; port: number | null } | null;
  allowListKnownKeys: boolean;
  allowProvePossession: boolean;
  /** Every signature returned is appended here first; null: no log. */
  transparencyLog: TransparencyLogSettings | null;
}

export function serveOptions() {
  const cmd = addTransparencyLogKeyOptions(addTransparencyLogDirOption(addStoreOptions(addListenOptions(new Command('serve'), LINE_PORT))))
    .description(`serve the line protocol (default port ${LINE_PORT}) and the octez HTTP API (default port ${HTTP_PORT}); the default subcommand`)
    .option(
      '--keys <file>',
      "keys and policy: the seed's keys.json or the signerd format (docs/tezos.md); secret keys in it make it a secret file (mode 0600); HSM keys by pkcs11: URI",
    )
    .option('--passphrase-file <file>', 'passphrase for encrypted secret keys (edesk…/spesk…/p2esk…/BLesk…), mode 0600')
    .option('--http-host <address>', 'address of the HTTP API (default: --host, or bind_addr from keys.json)')
    .option('--http-port <port>', `port of the HTTP API (default: ${HTTP_PORT}, or bind_port from keys.json)`, parsePort('--http-port'))
    .option('--no-http', 'do not serve the HTTP API')
    .option('--no-line', 'do not serve the line protocol')
    .option('--allow-list-known-keys', 'answer GET /known_keys (off, as in octez; the local line request `keys` always answers)')
    .option('--allow-to-prove-possession', 'answer GET /bls_prove_possession/<pkh> and `pop` for tz4 keys')
    .option(
      '--redis-local-floor',
      'redis (the default): also reserve every mark in the local SQLite file in --state-dir (fsynced) before signing, so a Redis that loses marks cannot make this host sign again',
    )
    .option(
      '--no-redis-local-floor',
      'redis: trust Redis alone with the marks (a Redis that loses them lets this host double-sign after a restart); warned at every start',
    )
    .option(
      '--init-watermarks',
      'sqlite: create the watermark store if --state-dir has none (a first start); without it such a --state-dir is refused, since the daemon would start with no record of what its keys signed (a mistyped or moved --state-dir)',
    )
    .option(
      '--payload-bytes-max <bytes>',
      'largest payload to sign; larger gets PAYLOAD_TOO_LARGE',
      parseCount('--payload-bytes-max', 1, TEZOS_PAYLOAD_BYTES_CEILING),
      TEZOS_PAYLOAD_BYTES_MAX,
    );
  // The shared default line limit (64 KiB) is too short for a 32 KiB payload in hex.
  cmd.options.find((o) => o.attributeName() === 'lineBytesMax')?.default(lineBytesFor(TEZOS_PAYLOAD_BYTES_MAX));
  cmd.setOptionValueWithSource('lineBytesMax', lineBytesFor(TEZOS_PAYLOAD_BYTES_MAX), 'default');
  return cmd;
}

type ServeOptionValues = ReturnType<ReturnType<typeof serveOptions>['opts']>;

/** Whether an option kept its default (given neither on the command line nor in --config). */
export type Defaulted = (option: 'host' | 'lineBytesMax') => boolean;

export function defaultedOn(cmd: CommandUnknownOpts): Defaulted {
  return (option) => cmd.getOptionValueSource(option) === 'default';
}

export function serveSettings(opts: ServeOptionValues, defaulted: Defaulted): TezosServeSettings {
  const listen = listenSettings(opts);
  const payloadBytesMax = opts.payloadBytesMax;
  if (defaulted('lineBytesMax')) listen.limits.lineBytesMax = lineBytesFor(payloadBytesMax);
  listen.limits.httpBodyBytesMax = 2 * payloadBytesMax + 64;
  if (!opts.http && !opts.line) throw new DaemonError('CONFIG_INVALID', '--no-http and --no-line leave nothing to serve');
  const keysFile = required(opts.keys, '--keys');
  const store = storeSettings(opts);
  // Neither floor option given: undefined (commander sets no default when both forms are declared).
  if (opts.redisLocalFloor !== undefined && store.kind !== 'redis') {
    throw new DaemonError('CONFIG_INVALID', '--redis-local-floor / --no-redis-local-floor apply to --store redis only');
  }
  return {
    listen,
    store,
    hostFloorDir: store.kind === 'redis' && opts.redisLocalFloor !== false ? opts.stateDir : null,
    initWatermarks: opts.initWatermarks === true,
    keysFile,
    passphraseFile: opts.passphraseFile ?? null,
    payloadBytesMax,
    line: opts.line,
    // An explicit --host moves the HTTP listener too; only the default gives way to keys.json's bind_addr.
    http: opts.http ? { host: opts.httpHost ?? (defaulted('host') ? null : listen.host), port: opts.httpPort ?? null } : null,
    allowListKnownKeys: opts.allowListKnownKeys === true,
    allowProvePossession: opts.allowToProvePossession === true,
    transparencyLog: transparencyLogSettings(opts),
  };
}
