// Composition of a sign daemon (sign-rsa, sign-ecdsa): options → key → store → line server.
// The daemons' main.ts files pick a profile; everything they share is composed here once.
import { Command } from '@commander-js/extra-typings';
import { DEFAULT_LIMITS, INPUT_HELD_BYTES_MAX, PURGE_INTERVAL_MS, STORE_READY_MS_MAX, TTL_SECONDS_MAX } from '../limits.js';
import type { Logger } from 'pino';
import { addListenOptions, listenSettings, required, tcpListenOptions, type ListenSettings } from '../config/daemon-options.js';
import { addStoreOptions, storeSettings, type StoreSettings } from '../config/store-options.js';
import { openValidityStore } from '../store/open-validity-store.js';
import { parseCount } from '../config/numbers.js';
import { openSigningKey } from '../keys/open-signing-key.js';
import { runDaemonProcess, type DaemonHandle } from '../server/daemon-process.js';
import { channelReload, openChannelGuard } from '../channels/channel-guard.js';
import { startTcpServer } from '../server/serve-tcp.js';
import { createSignService } from './sign-service.js';
import { startOperations } from '../operations/operations.js';
import { signingKeyPart, transparencyLogPart, validityStorePart } from '../operations/probes.js';
import { createProbeTrigger } from '../operations/readiness.js';
import { keySourceOf } from '../keys/open-signing-key.js';
import {
  addTransparencyLogDirOption,
  addTransparencyLogKeyOptions,
  openConfiguredTransparencyLog,
  transparencyLogSettings,
  type TransparencyLogSettings,
} from '../config/transparency-log-options.js';
import { isPkcs11Uri } from '../keys/pkcs11-uri.js';
import type { TransparencyLog } from '../transparency/transparency-log.js';
import type { SignatureProfile } from './profiles.js';

/** Everything a sign daemon is configured with, validated once. */
export interface SignDaemonSettings {
  listen: ListenSettings;
  store: StoreSettings;
  /** A PEM file or a pkcs11: URI. */
  key: string;
  /** Records expire after this many seconds; null keeps them until revoked. */
  ttlSeconds: number | null;
  chunkBytes: number;
  /** Every signature is appended here before it is returned; null: no log. */
  transparencyLog: TransparencyLogSettings | null;
}

export function signDaemonCommand(profile: SignatureProfile) {
  const name = `sign-${profile.family}`;
  const cmd = addTransparencyLogKeyOptions(addTransparencyLogDirOption(addStoreOptions(addListenOptions(new Command(name), profile.signPort))))
    .description(`${profile.description} signing daemon (line protocol, default port ${profile.signPort})`)
    .option(
      '--key <file or pkcs11: URI>',
      `private key PEM (PKCS#8, PKCS#1 or SEC1, mode 0600, e.g. \${CREDENTIALS_DIRECTORY}/signing-key.pem under systemd's LoadCredential=), or an HSM key as a pkcs11: URI (docs/pkcs11.md)`,
    )
    .option('--ttl <seconds>', 'validity records expire after this many seconds (default: never)', parseCount('--ttl', 1, TTL_SECONDS_MAX))
    .option(
      '--chunk-bytes <bytes>',
      'content longer than this is signed in chunks of this size',
      parseCount('--chunk-bytes', 1, INPUT_HELD_BYTES_MAX),
      DEFAULT_LIMITS.chunkBytes,
    );
  cmd.action(() => runDaemonProcess(name, cmd, async (opts, log) => startSignDaemon(profile, signDaemonSettings(opts), log)));
  return cmd;
}

type SignOptionValues = ReturnType<ReturnType<typeof signDaemonCommand>['opts']>;

function signDaemonSettings(opts: SignOptionValues): SignDaemonSettings {
  return {
    listen: listenSettings(opts),
    store: storeSettings(opts),
    key: required(opts.key, '--key'),
    ttlSeconds: opts.ttl ?? null,
    chunkBytes: opts.chunkBytes,
    transparencyLog: transparencyLogSettings(opts),
  };
}

async function startSignDaemon(profile: SignatureProfile, settings: SignDaemonSettings, log: Logger): Promise<DaemonHandle> {
  const { listen } = settings;
  const name = `sign-${profile.family}`;
  const channel = openChannelGuard(name, listen.policy, log);
  const ops = await startOperations(name, listen, log, channel);
  const key = await openSigningKey(settings.key, profile.algorithm, { callMsMax: listen.limits.backendCallMsMax, log });
  ops.keyInfo(key.keyId, key.algorithm, keySourceOf(settings.key).kind);
  let transparencyLog: TransparencyLog | null = null;
  try {
    transparencyLog =
      settings.transparencyLog && (await openConfiguredTransparencyLog(settings.transparencyLog, { callMsMax: listen.limits.backendCallMsMax, log }));
    // The log says which key signed what follows: its public key, so an auditor needs nothing else.
    await transparencyLog?.append({
      kind: 'key-loaded',
      source: name,
      keyId: key.keyId,
      algorithm: key.algorithm,
      backend: isPkcs11Uri(settings.key) ? 'pkcs11' : 'file',
      publicKey: key.publicKey.export({ type: 'spki', format: 'der' }),
    });
  } catch (err) {
    await transparencyLog?.close();
    await key.close?.();
    await ops.stop();
    throw err;
  }
  // A store connection lost or back (Redis; a failed PostgreSQL one) is probed at once: /readyz need not wait for the next probe.
  const storeChanged = createProbeTrigger();
  const store = ops.timedStore(
    await openValidityStore(settings.store, { durable: false, create: true, log, logConnectionErrors: true, onConnectionChange: storeChanged.fire }),
    settings.store.kind,
    ['put', 'getLive'],
  );
  const service = createSignService({
    key,
    store,
    ttlSeconds: settings.ttlSeconds,
    chunkBytes: settings.chunkBytes,
    reply: listen.reply,
    transparencyLog: transparencyLog && { source: name, log: transparencyLog },
  });
  if (!(await store.ready(STORE_READY_MS_MAX))) log.warn({ store: settings.store.kind }, 'store not reachable yet; answering STORE_UNAVAILABLE until it is');
  const server = await startTcpServer({
    ...tcpListenOptions(listen),
    log,
    service,
    channel,
    metrics: ops.listener('sign'),
  });
  ops.addPart(signingKeyPart(key));
  ops.addPart(validityStorePart(store, { write: true, stateDir: settings.store.kind === 'sqlite' ? settings.store.stateDir : null, changes: storeChanged }));
  if (transparencyLog) {
    ops.addPart(transparencyLogPart(transparencyLog));
    ops.transparencyLog(() => transparencyLog.stats());
  }
  ops.serving();
  const purge = setInterval(() => {
    if ('purgeExpired' in store) {
      // A failure (the lock held past the store's timeout, an outage) is only logged: the next purge catches up.
      void (store as { purgeExpired(): Promise<number> })
        .purgeExpired()
        .catch((err: unknown) => log.warn({ err: (err as Error).message }, 'purging expired records failed'));
    }
  }, PURGE_INTERVAL_MS).unref();
  log.info(
    {
      host: listen.host,
      port: server.address.port,
      keyId: key.keyId,
      algorithm: key.algorithm,
      store: settings.store.kind,
      transparencyLog: transparencyLog !== null,
    },
    'listening',
  );
  return {
    async stop() {
      clearInterval(purge);
      ops.draining();
      await server.close();
      await transparencyLog?.close();
      await store.close();
      await key.close?.();
      await ops.stop();
    },
    reload: channelReload(channel, [server], log),
  };
}
