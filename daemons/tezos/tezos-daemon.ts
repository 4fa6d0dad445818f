// `signerd tezos serve` composed: keys.json → keys (HSM keys opened and checked) → transparency log →
// watermark store → the one core sign service → the line protocol and octez HTTP front ends. A failing
// step closes what the earlier ones opened; `stop` closes everything in reverse.
import type { Logger } from 'pino';
import { STORE_READY_MS_MAX } from '../../lib/limits.js';
import { channelReload, openChannelGuard, type ChannelGuard } from '../../lib/channels/channel-guard.js';
import { startHttpServer } from '../../lib/server/serve-http.js';
import { startTcpServer } from '../../lib/server/serve-tcp.js';
import { tcpListenOptions } from '../../lib/config/daemon-options.js';
import { createTezosLineService } from './api/line-api.js';
import { createTezosHttpService } from './api/octez-http-api.js';
import { openTezosConfig, type OpenTezosConfig } from './config/keys-config.js';
import { HTTP_PORT, type TezosServeSettings } from './config/serve-options.js';
import { createTezosService } from './signing/sign-service.js';
import { TEZOS_PENDING_WAIT_MS } from './tezos-limits.js';
import { openDaemonWatermarks } from './watermark/open-watermark-store.js';
import { startOperations, type Operations } from '../../lib/operations/operations.js';
import { createProbeTrigger } from '../../lib/operations/readiness.js';
import { countingRefusals, tezosKeyPart, watermarkPart } from './tezos-readiness.js';
import { openConfiguredTransparencyLog } from '../../lib/config/transparency-log-options.js';
import type { TransparencyLog } from '../../lib/transparency/transparency-log.js';
import { tezosKeyLoadedEvents } from './signing/signature-log.js';
import { transparencyLogPart } from '../../lib/operations/probes.js';

export interface TezosDaemon {
  /** The bound ports (null for a front end that is off). */
  linePort: number | null;
  httpPort: number | null;
  stop(): Promise<void>;
  /** SIGHUP: re-reads the client registry and the TLS certificate (with client channels). */
  reload?(): Promise<void>;
}

export async function startTezosDaemon(settings: TezosServeSettings, log: Logger): Promise<TezosDaemon> {
  const channel = openChannelGuard('tezos', settings.listen.policy, log);
  const ops = await startOperations('tezos', settings.listen, log, channel);
  // HSM keys are opened here (login, test signature); every later start-up failure closes them.
  const config = await openTezosConfig(settings.keysFile, settings.passphraseFile === null ? {} : { passphraseFile: settings.passphraseFile }, {
    callMsMax: settings.listen.limits.backendCallMsMax,
    log,
  });
  let transparencyLog: TransparencyLog | null = null;
  try {
    if (settings.transparencyLog) {
      transparencyLog = await openConfiguredTransparencyLog(settings.transparencyLog, { callMsMax: settings.listen.limits.backendCallMsMax, log });
      const opened = transparencyLog;
      await Promise.all(tezosKeyLoadedEvents(config.keys.values()).map((event) => opened.append(event)));
    }
    return await serveWith(settings, config, { ops, channel, transparencyLog }, log);
  } catch (err) {
    await ops.stop();
    await transparencyLog?.close();
    await config.close();
    throw err;
  }
}

async function serveWith(
  settings: TezosServeSettings,
  config: OpenTezosConfig,
  { ops, channel, transparencyLog }: { ops: Operations; channel: ChannelGuard | null; transparencyLog: TransparencyLog | null },
  log: Logger,
): Promise<TezosDaemon> {
  const { listen } = settings;
  // A store connection lost or back (Redis; a failed PostgreSQL one) is probed at once: /readyz need not wait for the next probe.
  const marksChanged = createProbeTrigger();
  const marks = await openDaemonWatermarks(
    settings.store,
    settings.hostFloorDir,
    settings.initWatermarks,
    log,
    (store) => ops.timedStore(store, settings.store.kind, ['reserve', 'recordSignature', 'read']),
    marksChanged.fire,
  );
  try {
    // A baker's first request after a restart must not meet a store still connecting (bounded wait,
    // as the sign daemons do); a Redis that can lose marks stops start-up here (exit 78).
    if (!(await marks.ready(STORE_READY_MS_MAX))) log.warn({ store: settings.store.kind }, 'store not reachable yet; answering STORE_UNAVAILABLE until it is');
  } catch (err) {
    await marks.close();
    throw err;
  }
  const core = createTezosService({
    keys: config.keys,
    authorizedKeys: config.authorizedKeys,
    marks,
    payloadBytesMax: settings.payloadBytesMax,
    allowListKnownKeys: settings.allowListKnownKeys,
    allowProvePossession: settings.allowProvePossession,
    pendingWaitMs: TEZOS_PENDING_WAIT_MS,
    transparencyLog,
    recordFailed: (fields) => log.warn(fields, 'signature not recorded beside its watermark; an identical retry will be refused'),
  });
  const stops: Array<() => Promise<void>> = [];
  const servers: Array<{ channelsReloaded(): void }> = [];
  const daemon: TezosDaemon = {
    linePort: null,
    httpPort: null,
    stop: async () => {
      ops.draining();
      await Promise.all(stops.map((stop) => stop()));
      await core.settled();
      await transparencyLog?.close();
      await marks.close();
      await config.close();
      await ops.stop();
    },
  };
  const countRefusals = (kind: string) => countingRefusals(ops.listener(kind), (refusal) => ops.count('signerd_tezos_refusals_total', { kind: refusal }));
  const common = {
    keys: config.keys.size,
    store: settings.store.kind,
    authentication: config.authorizedKeys.length > 0,
    transparencyLog: transparencyLog !== null,
  };
  // Each listener is announced once all of them are bound: a refused or taken second address must
  // not follow a first one already logged as listening.
  const announcements: Array<() => void> = [];
  if (settings.line) {
    const line = await startTcpServer({
      ...tcpListenOptions(listen),
      log,
      service: createTezosLineService(core, listen.reply),
      channel,
      metrics: countRefusals('line'),
      // No seed client sends a tezos line without its LF; a manager batch cut at an operation
      // boundary by a stall would be another valid operation, signed with no sign of the cut.
      quietEndsLine: false,
    });
    servers.push(line);
    stops.push(() => line.close());
    daemon.linePort = line.address.port;
    announcements.push(() => log.info({ protocol: 'line', host: listen.host, port: line.address.port, ...common }, 'listening'));
  }
  if (settings.http) {
    const host = settings.http.host ?? config.bindAddr ?? listen.host;
    const port = settings.http.port ?? config.bindPort ?? HTTP_PORT;
    const http = await startHttpServer({
      host,
      port,
      limits: listen.limits,
      log,
      service: createTezosHttpService(core),
      channel,
      policy: listen.policy,
      metrics: countRefusals('http'),
    });
    servers.push(http);
    stops.push(() => http.close());
    daemon.httpPort = http.address.port;
    announcements.push(() => log.info({ protocol: 'http', host, port: http.address.port, ...common }, 'listening'));
  }
  for (const announce of announcements) announce();
  for (const { key } of config.keys.values()) {
    // Token-held keys are the ones with sessions to close.
    ops.keyInfo(key.pkh, key.curve, 'close' in key ? 'pkcs11' : 'file');
    ops.addPart(tezosKeyPart(key));
  }
  if (transparencyLog) {
    ops.addPart(transparencyLogPart(transparencyLog));
    ops.transparencyLog(() => transparencyLog.stats());
  }
  ops.addPart(watermarkPart(marks, settings.store.kind === 'sqlite' ? settings.store.stateDir : settings.hostFloorDir, marksChanged));
  ops.serving();
  const reload = channelReload(channel, servers, log);
  if (reload) daemon.reload = reload;
  return daemon;
}
