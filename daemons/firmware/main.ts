// signerd firmware: kernel module, swupdate, Mender and OP-TEE signing from a digsigserver key root;
// the line protocol (127.0.0.1:9998) and the digsigserver-compatible HTTP API (127.0.0.1:9999).
// Composition root: settings → key root → line server → HTTP server. A map of the parts: README.md.
import { Command } from '@commander-js/extra-typings';
import type { Logger } from 'pino';
import { addListenOptions, tcpListenOptions } from '../../lib/config/daemon-options.js';
import { channelReload, openChannelGuard, type ChannelGuard } from '../../lib/channels/channel-guard.js';
import type { ChannelPolicy } from '../../lib/channels/channel-options.js';
import { runDaemonProcess, type DaemonHandle } from '../../lib/server/daemon-process.js';
import { startHttpServer, type RunningHttpServer } from '../../lib/server/serve-http.js';
import { startTcpServer, type RunningServer } from '../../lib/server/serve-tcp.js';
import { addFirmwareOptions, firmwareSettings, type FirmwareHttpSettings, type FirmwareSettings } from './firmware-settings.js';
import { createFirmwareHttpService } from './http/firmware-http.js';
import { openKeyRoot, type KeyRoot } from './keys/key-root.js';
import { createFirmwareLineService } from './line-protocol.js';
import { startOperations, type Operations } from '../../lib/operations/operations.js';
import { countingUploads, keyInfoSeries } from './firmware-operations.js';
import { KEY_INFO_SERIES_MAX } from './firmware-limits.js';
import { readableDirectoryPart, transparencyLogPart } from '../../lib/operations/probes.js';
import { openConfiguredTransparencyLog } from '../../lib/config/transparency-log-options.js';
import type { TransparencyLog } from '../../lib/transparency/transparency-log.js';
import { auditedKeyRoot, keyLoadedEvents } from './keys/audited-key-root.js';
import { hsmKeyParts } from './firmware-readiness.js';

const FIRMWARE_LINE_PORT = 9998;
/** Only GET /health is read whole; every signing request is an upload. */
const HEALTH_BODY_BYTES_MAX = 1024;

export function command() {
  const cmd = addFirmwareOptions(addListenOptions(new Command('firmware'), FIRMWARE_LINE_PORT)).description(
    `firmware signing daemon: kernel modules, swupdate, Mender, OP-TEE (line protocol, default port ${FIRMWARE_LINE_PORT}; digsigserver HTTP API)`,
  );
  cmd.action(() => runDaemonProcess('firmware', cmd, (opts, log) => serve(firmwareSettings(opts), log)));
  return cmd;
}

async function serve(settings: FirmwareSettings, log: Logger): Promise<DaemonHandle> {
  const { listen } = settings;
  const channel = openChannelGuard('firmware', listen.policy, log);
  const ops = await startOperations('firmware', listen, log, channel);
  // PEM keys are read here; `<key file>.pkcs11` references open their HSM keys (login, verified test signatures).
  const loadedRoot = await openKeyRoot(settings.keyRoot, { callMsMax: listen.limits.backendCallMsMax, log });
  log.info({ keyRoot: settings.keyRoot, keys: loadedRoot.entries().map((e) => `${e.signType}:${e.selector}`) }, 'key root loaded');
  const servers: Array<RunningServer | RunningHttpServer> = [];
  let transparencyLog: TransparencyLog | null = null;
  const stop = async (): Promise<void> => {
    ops.draining();
    await Promise.all(servers.map((server) => server.close()));
    await transparencyLog?.close();
    await loadedRoot.close();
    await ops.stop();
  };
  let keyRoot = loadedRoot;
  try {
    if (settings.transparencyLog) {
      const opened = await openConfiguredTransparencyLog(settings.transparencyLog, { callMsMax: listen.limits.backendCallMsMax, log });
      transparencyLog = opened;
      await Promise.all(keyLoadedEvents(loadedRoot).map((event) => opened.append(event)));
      keyRoot = auditedKeyRoot(loadedRoot, opened);
    }
    // Decoded objects are at most 3/4 of a line; the line limit is the real bound.
    const service = createFirmwareLineService({ keyRoot, reply: listen.reply, objectBytesMax: listen.limits.lineBytesMax });
    const line = await startTcpServer({
      ...tcpListenOptions(listen),
      log,
      service,
      channel,
      metrics: ops.listener('line'),
      // A request carries a whole object: one that stalls mid-line must not be signed as a prefix.
      quietEndsLine: false,
    });
    servers.push(line);
    // Both listeners are announced once both are bound (a refused or taken HTTP address must not
    // follow a line listener already logged), the line listener first: test/helpers/daemon.ts reads
    // the ports in this order.
    const announcements = [() => log.info({ protocol: 'line', host: listen.host, port: line.address.port }, 'listening')];
    if (settings.http) {
      const http = await startFirmwareHttp(settings.http, keyRoot, ops, log, { channel, policy: listen.policy });
      servers.push(http);
      const { host } = settings.http;
      announcements.push(() => log.info({ protocol: 'http', host, port: http.address.port, tempDir: http.uploadDir }, 'listening'));
    }
    for (const announce of announcements) announce();
    ops.addPart(readableDirectoryPart('key root', settings.keyRoot));
    // The loaded root, not the audited one: probe signatures are not firmware signatures to log.
    for (const part of hsmKeyParts(loadedRoot)) ops.addPart(part);
    const keyInfo = keyInfoSeries(loadedRoot, KEY_INFO_SERIES_MAX);
    for (const { keyId, algorithm, backend } of keyInfo.series) ops.keyInfo(keyId, algorithm, backend);
    if (ops.port !== null && keyInfo.total > keyInfo.series.length)
      log.warn({ shown: keyInfo.series.length, keys: keyInfo.total }, 'signerd_key_info lists the first keys of the key root only');
    const logged = transparencyLog;
    if (logged) {
      ops.addPart(transparencyLogPart(logged));
      ops.transparencyLog(() => logged.stats());
    }
    ops.serving();
  } catch (err) {
    await stop();
    throw err;
  }
  const reload = channelReload(channel, servers, log);
  return reload ? { stop, reload } : stop;
}

function startFirmwareHttp(
  settings: FirmwareHttpSettings,
  keyRoot: KeyRoot,
  ops: Operations,
  log: Logger,
  channels: { channel: ChannelGuard | null; policy: ChannelPolicy },
): Promise<RunningHttpServer> {
  const { limits } = settings;
  return startHttpServer({
    ...channels,
    host: settings.host,
    port: settings.port,
    log,
    service: countingUploads(createFirmwareHttpService({ keyRoot, limits, menderArtifactRoot: settings.menderArtifactRoot }), {
      upload(format, outcome, bytes) {
        ops.count('signerd_firmware_uploads_total', { format, outcome });
        ops.count('signerd_firmware_upload_bytes_total', { format }, bytes);
      },
    }),
    metrics: ops.listener('http'),
    limits: {
      connectionsMax: limits.connectionsMax,
      drainMsMax: limits.drainMsMax,
      httpBodyBytesMax: HEALTH_BODY_BYTES_MAX,
      httpRequestMsMax: limits.requestMsMax,
      httpHeadersMsMax: limits.idleMsMax,
    },
    uploads: {
      tempDir: settings.tempDir,
      limits: {
        bodyBytesMax: limits.uploadBytesMax,
        idleMsMax: limits.idleMsMax,
        processingMsMax: limits.processingMsMax,
        jobsMax: limits.jobsMax,
        queueMax: limits.queueMax,
        queueBytesMax: limits.queueBytesMax,
        queueMsMax: limits.queueMsMax,
      },
    },
  });
}
