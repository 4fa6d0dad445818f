// Composition of a verify daemon (verify-rsa, verify-ecdsa): options → keyring → store → line server.
// Verifiers hold public keys only.
import { Command } from '@commander-js/extra-typings';
import type { Logger } from 'pino';
import { addListenOptions, listenSettings, required, tcpListenOptions, type ListenSettings } from '../config/daemon-options.js';
import { addStoreOptions, storeSettings, type StoreSettings } from '../config/store-options.js';
import { openValidityStore } from '../store/open-validity-store.js';
import { loadKeyring } from '../keys/public-keyring.js';
import { runDaemonProcess, type DaemonHandle } from '../server/daemon-process.js';
import { channelReload, openChannelGuard } from '../channels/channel-guard.js';
import { startTcpServer } from '../server/serve-tcp.js';
import { STORE_READY_MS_MAX } from '../limits.js';
import { createVerifyService } from './verify-service.js';
import { startOperations } from '../operations/operations.js';
import { validityStorePart } from '../operations/probes.js';
import { createProbeTrigger } from '../operations/readiness.js';
import type { SignatureProfile } from './profiles.js';

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/** Everything a verify daemon is configured with, validated once. */
export interface VerifyDaemonSettings {
  listen: ListenSettings;
  store: StoreSettings;
  /** Public key files or directories (several for key rotation). */
  keyring: string[];
}

export function verifyDaemonCommand(profile: SignatureProfile) {
  const name = `verify-${profile.family}`;
  const cmd = addStoreOptions(addListenOptions(new Command(name), profile.verifyPort))
    .description(`${profile.description} verify daemon (line protocol, default port ${profile.verifyPort})`)
    .option('--keyring <path>', 'public key file, or directory of *.pem/*.pub; repeat for several (key rotation)', collect);
  cmd.action(() => runDaemonProcess(name, cmd, async (opts, log) => startVerifyDaemon(profile, verifyDaemonSettings(opts), log)));
  return cmd;
}

type VerifyOptionValues = ReturnType<ReturnType<typeof verifyDaemonCommand>['opts']>;

function verifyDaemonSettings(opts: VerifyOptionValues): VerifyDaemonSettings {
  return { listen: listenSettings(opts), store: storeSettings(opts), keyring: required(opts.keyring, '--keyring') };
}

async function startVerifyDaemon(profile: SignatureProfile, settings: VerifyDaemonSettings, log: Logger): Promise<DaemonHandle> {
  const { listen } = settings;
  const channel = openChannelGuard(`verify-${profile.family}`, listen.policy, log);
  const ops = await startOperations(`verify-${profile.family}`, listen, log, channel);
  const keyring = loadKeyring(settings.keyring, profile.algorithm);
  for (const keyId of keyring.keyIds) ops.keyInfo(keyId, profile.algorithm, 'public-key-file');
  // A store connection lost or back (Redis; a failed PostgreSQL one) is probed at once: /readyz need not wait for the next probe.
  const storeChanged = createProbeTrigger();
  const store = ops.timedStore(
    await openValidityStore(settings.store, { durable: false, create: true, log, logConnectionErrors: true, onConnectionChange: storeChanged.fire }),
    settings.store.kind,
    ['getLive'],
  );
  const service = createVerifyService({ algorithm: profile.algorithm, keyring, store, reply: listen.reply, verifiedReply: profile.verifiedReply });
  if (!(await store.ready(STORE_READY_MS_MAX))) log.warn({ store: settings.store.kind }, 'store not reachable yet; answering STORE_UNAVAILABLE until it is');
  const server = await startTcpServer({
    ...tcpListenOptions(listen),
    log,
    service,
    channel,
    metrics: ops.listener('verify'),
  });
  ops.addPart(validityStorePart(store, { write: false, stateDir: settings.store.kind === 'sqlite' ? settings.store.stateDir : null, changes: storeChanged }));
  ops.serving();
  log.info({ host: listen.host, port: server.address.port, keyIds: keyring.keyIds, store: settings.store.kind }, 'listening');
  return {
    async stop() {
      ops.draining();
      await server.close();
      await store.close();
      await ops.stop();
    },
    reload: channelReload(channel, [server], log),
  };
}
