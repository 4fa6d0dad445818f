// Composition of a sign daemon (sign-rsa, sign-ecdsa): options → key → store → line server.
// The daemons' main.ts files pick a profile; everything they share is composed here once.
import { Command } from 'commander';
import { DEFAULT_LIMITS, PURGE_INTERVAL_MS, STORE_READY_MS_MAX } from '../limits.js';
import { addListenOptions, listenSettings, requireOption } from '../config/daemon-options.js';
import { addStoreOptions, openValidityStore, storeSettings } from '../config/store-options.js';
import { parseCount } from '../config/numbers.js';
import { openSigningKey } from '../keys/open-signing-key.js';
import { runDaemonProcess } from '../server/daemon-process.js';
import { startTcpServer } from '../server/serve-tcp.js';
import { createSignService } from './sign-service.js';
import type { SignatureProfile } from './profiles.js';

export function signDaemonCommand(profile: SignatureProfile): Command {
  const name = `sign-${profile.family}`;
  const cmd = new Command(name).description(`${profile.description} signing daemon (line protocol, default port ${profile.signPort})`);
  addListenOptions(cmd, profile.signPort);
  addStoreOptions(cmd);
  cmd
    .option(
      '--key <file or pkcs11: URI>',
      `private key PEM (PKCS#8, PKCS#1 or SEC1, mode 0600, e.g. \${CREDENTIALS_DIRECTORY}/${profile.family}-key.pem), or an HSM key as a pkcs11: URI (docs/pkcs11.md)`,
    )
    .option('--ttl <seconds>', 'validity records expire after this many seconds (default: never)', parseCount('--ttl', 1))
    .option('--chunk-bytes <bytes>', 'content longer than this is signed in chunks of this size', parseCount('--chunk-bytes', 1), DEFAULT_LIMITS.chunkBytes)
    .action(() =>
      runDaemonProcess(name, cmd, async (opts, log) => {
        const listen = listenSettings(opts);
        requireOption(opts, 'key');
        const key = await openSigningKey(String(opts['key']), profile.algorithm, { callMsMax: listen.limits.backendCallMsMax, log });
        const store = openValidityStore(storeSettings(opts), { durable: false, create: true, log, logConnectionErrors: true });
        const service = createSignService({
          key,
          store,
          ttlSeconds: (opts['ttl'] as number | undefined) ?? null,
          chunkBytes: opts['chunkBytes'] as number,
          reply: listen.reply,
        });
        if (!(await store.ready(STORE_READY_MS_MAX))) log.warn({ store: opts['store'] }, 'store not reachable yet; answering STORE_UNAVAILABLE until it is');
        const server = await startTcpServer({ host: listen.host, port: listen.port, mode: listen.mode, limits: listen.limits, log, service });
        const purge = setInterval(() => {
          if ('purgeExpired' in store) {
            try {
              (store as { purgeExpired(): number }).purgeExpired();
            } catch (err) {
              log.warn({ err: (err as Error).message }, 'purging expired records failed');
            }
          }
        }, PURGE_INTERVAL_MS).unref();
        log.info({ host: listen.host, port: server.address.port, keyId: key.keyId, algorithm: key.algorithm, store: opts['store'] }, 'listening');
        return async () => {
          clearInterval(purge);
          await server.close();
          await store.close();
          await key.close?.();
        };
      }),
    );
  return cmd;
}
