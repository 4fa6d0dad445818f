// Composition of a verify daemon (verify-rsa, verify-ecdsa): options → keyring → store → line server.
// Verifiers hold public keys only.
import { Command } from 'commander';
import { addListenOptions, listenSettings, requireOption } from '../config/daemon-options.js';
import { addStoreOptions, openValidityStore, storeSettings } from '../config/store-options.js';
import { loadKeyring } from '../keys/public-keyring.js';
import { runDaemonProcess } from '../server/daemon-process.js';
import { startTcpServer } from '../server/serve-tcp.js';
import { STORE_READY_MS_MAX } from '../limits.js';
import { createVerifyService } from './verify-service.js';
import type { SignatureProfile } from './profiles.js';

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

export function verifyDaemonCommand(profile: SignatureProfile): Command {
  const name = `verify-${profile.family}`;
  const cmd = new Command(name).description(`${profile.description} verify daemon (line protocol, default port ${profile.verifyPort})`);
  addListenOptions(cmd, profile.verifyPort);
  addStoreOptions(cmd);
  cmd.option('--keyring <path>', 'public key file, or directory of *.pem/*.pub; repeat for several (key rotation)', collect).action(() =>
    runDaemonProcess(name, cmd, async (opts, log) => {
      const listen = listenSettings(opts);
      requireOption(opts, 'keyring');
      const keyring = loadKeyring(opts['keyring'] as string[], profile.algorithm);
      const store = openValidityStore(storeSettings(opts), { durable: false, create: true, log, logConnectionErrors: true });
      const service = createVerifyService({ algorithm: profile.algorithm, keyring, store, reply: listen.reply, verifiedReply: profile.verifiedReply });
      if (!(await store.ready(STORE_READY_MS_MAX))) log.warn({ store: opts['store'] }, 'store not reachable yet; answering STORE_UNAVAILABLE until it is');
      const server = await startTcpServer({ host: listen.host, port: listen.port, mode: listen.mode, limits: listen.limits, log, service });
      log.info({ host: listen.host, port: server.address.port, keyIds: keyring.keyIds, store: opts['store'] }, 'listening');
      return async () => {
        await server.close();
        await store.close();
      };
    }),
  );
  return cmd;
}
