// signerd tezos: the octez remote signer (HTTP, 6732) and its line protocol (9732) over one core
// path, plus `keygen` and `watermark …`. Composition root: options → keys → watermark store → servers.
import { Command, type CommandUnknownOpts } from '@commander-js/extra-typings';
import type { Logger } from 'pino';
import { DaemonError } from '../../lib/errors.js';
import { addListenOptions, listenSettings, required } from '../../lib/config/daemon-options.js';
import { addStoreOptions, storeSettings, type StoreSettings } from '../../lib/config/store-options.js';
import { parseCount, parsePort } from '../../lib/config/numbers.js';
import { runDaemonProcess } from '../../lib/server/daemon-process.js';
import { startHttpServer } from '../../lib/server/serve-http.js';
import { startTcpServer } from '../../lib/server/serve-tcp.js';
import { STORE_READY_MS_MAX, TEZOS_PAYLOAD_BYTES_MAX, TEZOS_PENDING_WAIT_MS } from '../../lib/limits.js';
import { createTezosHttpService } from './api/octez-http-api.js';
import { hsmKeyCommand } from './admin/hsm-key-command.js';
import { keygenCommand } from './admin/keygen-command.js';
import { createTezosLineService } from './api/line-api.js';
import { openTezosConfig, type OpenTezosConfig } from './config/keys-config.js';
import { createTezosService } from './signing/sign-service.js';
import type { WatermarkStore } from './watermark/watermark-store.js';
import { watermarkCommand } from './admin/watermark-command.js';
import { withMemoryFloor } from './watermark/memory-floor.js';
import { withHostFloor } from './watermark/host-floor.js';
import { openWatermarks } from './watermark/open-watermark-store.js';
import { openSqliteWatermarks } from './watermark/sqlite-watermark-store.js';

const LINE_PORT = 9732;
const HTTP_PORT = 6732;
/** A request line must hold `sign <pkh> <hex of the largest payload> <options>`. */
const lineBytesFor = (payloadBytes: number): number => 2 * payloadBytes + 1024;

export function command(): Command {
  const tezos = new Command('tezos').description('Tezos remote signer: octez HTTP API and line protocol, policy, durable high watermarks');
  tezos.addCommand(serveCommand(), { isDefault: true });
  tezos.addCommand(keygenCommand());
  tezos.addCommand(hsmKeyCommand());
  tezos.addCommand(watermarkCommand());
  return tezos;
}

function serveCommand() {
  const cmd = addStoreOptions(addListenOptions(new Command('serve'), LINE_PORT))
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
      '--payload-bytes-max <bytes>',
      'largest payload to sign; larger gets PAYLOAD_TOO_LARGE',
      parseCount('--payload-bytes-max', 1),
      TEZOS_PAYLOAD_BYTES_MAX,
    );
  cmd.action(() => runDaemonProcess('tezos', cmd, (opts, log) => serve(cmd, opts, log)));
  // The shared default line limit (64 KiB) is too short for a 32 KiB payload in hex.
  cmd.options.find((o) => o.attributeName() === 'lineBytesMax')?.default(lineBytesFor(TEZOS_PAYLOAD_BYTES_MAX));
  cmd.setOptionValueWithSource('lineBytesMax', lineBytesFor(TEZOS_PAYLOAD_BYTES_MAX), 'default');
  return cmd;
}

type ServeOptionValues = ReturnType<ReturnType<typeof serveCommand>['opts']>;

function openMarks(cmd: CommandUnknownOpts, opts: ServeOptionValues, settings: StoreSettings, log: Logger): WatermarkStore {
  const explicit = cmd.getOptionValueSource('redisLocalFloor') !== undefined && cmd.getOptionValueSource('redisLocalFloor') !== 'default';
  if (settings.kind !== 'redis') {
    if (explicit) throw new DaemonError('CONFIG_INVALID', '--redis-local-floor / --no-redis-local-floor apply to --store redis only');
    return openWatermarks(settings, { create: true, log, logConnectionErrors: true });
  }
  // Opened first: a state directory that cannot hold the floor stops start-up before Redis is reached.
  const local =
    opts['redisLocalFloor'] === false ? null : openSqliteWatermarks({ stateDir: String(opts['stateDir']), busyTimeoutMs: settings.timeoutMs, create: true });
  const shared = openWatermarks(settings, { create: true, log, logConnectionErrors: true });
  if (local === null) {
    log.warn(
      { redisLocalFloor: false },
      '--no-redis-local-floor: marks live in Redis alone; if Redis loses them (restart without persistence, failover to a lagging replica) this host can sign a slot twice after a restart',
    );
    return shared;
  }
  return withHostFloor(shared, local);
}

async function serve(cmd: CommandUnknownOpts, opts: ServeOptionValues, log: Logger): Promise<() => Promise<void>> {
  const listen = listenSettings(opts);
  const payloadBytesMax = opts['payloadBytesMax'];
  if (cmd.getOptionValueSource('lineBytesMax') === 'default') listen.limits.lineBytesMax = lineBytesFor(payloadBytesMax);
  listen.limits.httpBodyBytesMax = 2 * payloadBytesMax + 64;
  const passphraseFile = opts['passphraseFile'];
  if (opts['http'] === false && opts['line'] === false) throw new DaemonError('CONFIG_INVALID', '--no-http and --no-line leave nothing to serve');
  // HSM keys are opened here (login, test signature); every later start-up failure closes them.
  const config = await openTezosConfig(required(opts.keys, '--keys'), passphraseFile ? { passphraseFile } : {}, {
    callMsMax: listen.limits.backendCallMsMax,
    log,
  });
  try {
    return await serveWith(cmd, opts, log, listen, payloadBytesMax, config);
  } catch (err) {
    await config.close();
    throw err;
  }
}

async function serveWith(
  cmd: CommandUnknownOpts,
  opts: ServeOptionValues,
  log: Logger,
  listen: ReturnType<typeof listenSettings>,
  payloadBytesMax: number,
  config: OpenTezosConfig,
): Promise<() => Promise<void>> {
  const settings = storeSettings(opts);
  const marks = withMemoryFloor(openMarks(cmd, opts, settings, log));
  try {
    // A baker's first request after a restart must not meet a store still connecting (bounded wait,
    // as the sign daemons do); a Redis that can lose marks stops start-up here (exit 78).
    if (!(await marks.ready(STORE_READY_MS_MAX))) log.warn({ store: settings.kind }, 'store not reachable yet; answering STORE_UNAVAILABLE until it is');
  } catch (err) {
    await marks.close();
    throw err;
  }
  const core = createTezosService({
    keys: config.keys,
    authorizedKeys: config.authorizedKeys,
    marks,
    payloadBytesMax,
    allowListKnownKeys: Boolean(opts['allowListKnownKeys']),
    allowProvePossession: Boolean(opts['allowToProvePossession']),
    pendingWaitMs: TEZOS_PENDING_WAIT_MS,
  });
  const stops: Array<() => Promise<void>> = [];
  const common = { keys: config.keys.size, store: settings.kind, authentication: config.authorizedKeys.length > 0 };
  if (opts['line'] !== false) {
    const line = await startTcpServer({
      host: listen.host,
      port: listen.port,
      mode: listen.mode,
      limits: listen.limits,
      log,
      service: createTezosLineService(core, listen.reply),
    });
    stops.push(() => line.close());
    log.info({ protocol: 'line', host: listen.host, port: line.address.port, ...common }, 'listening');
  }
  if (opts['http'] !== false) {
    const host = opts['httpHost'] ?? (cmd.getOptionValueSource('host') === 'default' ? config.bindAddr : undefined) ?? listen.host;
    const port = opts['httpPort'] ?? config.bindPort ?? HTTP_PORT;
    const http = await startHttpServer({ host, port, limits: listen.limits, log, service: createTezosHttpService(core) });
    stops.push(() => http.close());
    log.info({ protocol: 'http', host, port: http.address.port, ...common }, 'listening');
  }
  return async () => {
    await Promise.all(stops.map((stop) => stop()));
    await marks.close();
    await config.close();
  };
}
