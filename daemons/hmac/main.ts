// signerd hmac: cryptoserver's HMAC-SHA256 service. Composition root: options → secret set →
// MAC listener (9850), verify listener (9851), optional HTTP POST /hmac; SIGHUP reloads secrets.
import { Command } from '@commander-js/extra-typings';
import type { Logger } from 'pino';
import { addListenOptions, tcpListenOptions } from '../../lib/config/daemon-options.js';
import { runDaemonProcess, type DaemonHandle } from '../../lib/server/daemon-process.js';
import { startHttpServer } from '../../lib/server/serve-http.js';
import { startTcpServer } from '../../lib/server/serve-tcp.js';
import { channelReload, openChannelGuard } from '../../lib/channels/channel-guard.js';
import { addHmacOptions, hmacSettings, MAC_PORT, VERIFY_PORT, type HmacSettings } from './hmac-options.js';
import { createHmacHttpService } from './http-api.js';
import { createMacService } from './mac-service.js';
import { loadSecretSet } from './open-secret-set.js';
import { TAG_BYTES } from './secret-set.js';
import { openSecretHolder } from './secret-holder.js';
import { createVerifyService } from './verify-service.js';
import { startOperations } from '../../lib/operations/operations.js';
import { countingTags, secretsPart } from './hmac-readiness.js';

export function command() {
  const cmd = addHmacOptions(addListenOptions(new Command('hmac'), MAC_PORT)).description(
    `HMAC-SHA256 daemon compatible with cryptoserver: MAC (line protocol, default port ${MAC_PORT}), verify (${VERIFY_PORT}), optional HTTP POST /hmac`,
  );
  cmd.action(() => runDaemonProcess('hmac', cmd, (opts, log) => serve(hmacSettings(opts), log)));
  return cmd;
}

async function serve(settings: HmacSettings, log: Logger): Promise<DaemonHandle> {
  const { listen } = settings;
  const limits = { ...listen.limits, chunkBytes: settings.chunkBytes, httpBodyBytesMax: settings.httpBodyBytesMax };
  const channel = openChannelGuard('hmac', listen.policy, log);
  const servers: Array<{ channelsReloaded(): void }> = [];
  const ops = await startOperations('hmac', listen, log, channel);
  const secrets = await openSecretHolder(() => loadSecretSet(settings.secrets, log));
  const first = secrets.current();
  log.info({ mode: first.mode, ...first.summary }, 'secrets loaded');
  // One series whatever the mode: key versions come and go with SIGHUP, and nothing of a secret is public.
  ops.keyInfo(first.mode, 'hmac-sha256', settings.secrets.hsmUri ? 'pkcs11' : 'file');

  const stops: Array<() => Promise<void>> = [];
  const lineDeps = { secrets, chunkBytes: settings.chunkBytes, reply: listen.reply };
  // A verify line carries the data plus its tags, so it may be longer than the longest MAC line by
  // the tag field for that line: whatever the MAC listener tags, the verify listener can check.
  const verifyLimits = { ...limits, lineBytesMax: verifyLineBytesMax(limits.lineBytesMax, settings.chunkBytes) };
  const lineListeners = [
    {
      protocol: 'mac',
      port: listen.port,
      limits,
      service: ops.port === null ? createMacService(lineDeps) : countingTags(createMacService(lineDeps), (n) => ops.count('signerd_hmac_tags_total', {}, n)),
    },
    {
      protocol: 'verify',
      port: settings.verifyPort,
      limits: verifyLimits,
      service: createVerifyService({ ...lineDeps, lineBytesMax: verifyLimits.lineBytesMax }),
    },
  ];
  // Every listener is announced once all are bound: a refused or taken later address must not follow
  // listeners already logged as listening.
  const announcements: Array<() => void> = [];
  for (const { protocol, port, limits, service } of lineListeners) {
    const metrics = ops.listener(protocol);
    const server = await startTcpServer({
      ...tcpListenOptions(listen),
      port,
      limits,
      log,
      service,
      channel,
      metrics,
      // Tags come by the tens of thousands a second: a record each would cost about half the throughput.
      requestLog: listen.requestLog ?? 'summary',
    });
    servers.push(server);
    stops.push(() => server.close());
    announcements.push(() => log.info({ protocol, host: listen.host, port: server.address.port, mode: first.mode }, 'listening'));
  }
  if (settings.http) {
    const http = await startHttpServer({
      host: settings.http.host,
      port: settings.http.port,
      limits,
      log,
      service: createHmacHttpService(secrets),
      channel,
      policy: listen.policy,
      metrics: ops.listener('http'),
    });
    servers.push(http);
    stops.push(() => http.close());
    const { host } = settings.http;
    announcements.push(() => log.info({ protocol: 'http', host, port: http.address.port, mode: first.mode }, 'listening'));
  }
  for (const announce of announcements) announce();
  ops.addPart(secretsPart(secrets));
  ops.serving();
  return {
    async stop() {
      ops.draining();
      await Promise.all(stops.map((stop) => stop()));
      await secrets.close();
      await ops.stop();
    },
    async reload() {
      // Each part on its own: a secret file refused must not keep a removed client's channels open
      // (nor a registry refused keep the old secrets); what failed is named, the rest is reloaded.
      const [clients, secretSet] = await Promise.allSettled([
        Promise.resolve().then(() => channelReload(channel, servers, log)?.()),
        secrets.reload().then((set) => log.info({ mode: set.mode, ...set.summary }, 'secrets reloaded')),
      ]);
      const failed = [
        ...(clients.status === 'rejected'
          ? [`client registry: ${(clients.reason as Error).message} (secrets: ${secretSet.status === 'fulfilled' ? 'reloaded' : 'kept'})`]
          : []),
        ...(secretSet.status === 'rejected'
          ? [`secrets: ${(secretSet.reason as Error).message}${channel ? ` (client registry: ${clients.status === 'fulfilled' ? 'reloaded' : 'kept'})` : ''}`]
          : []),
      ];
      if (failed.length > 0) throw new Error(failed.join('; '));
    },
  };
}

/** The longest verify line: the longest MAC line, a separator, and 2 hex digits per tag byte per chunk. */
function verifyLineBytesMax(macLineBytesMax: number, chunkBytes: number): number {
  return macLineBytesMax + 1 + Math.ceil(macLineBytesMax / chunkBytes) * TAG_BYTES * 2;
}
