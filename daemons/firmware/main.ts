// signerd firmware: kernel module, swupdate, Mender and OP-TEE signing from a digsigserver key root;
// the line protocol (127.0.0.1:9998) and the digsigserver-compatible HTTP API (127.0.0.1:9999).
import { Command } from '@commander-js/extra-typings';
import { addListenOptions, listenSettings, required } from '../../lib/config/daemon-options.js';
import { runDaemonProcess } from '../../lib/server/daemon-process.js';
import { startTcpServer } from '../../lib/server/serve-tcp.js';
import { createFirmwareSigner, openKeyRoot } from './firmware-signer.js';
import { startFirmwareHttp } from './http-api.js';
import { firmwareHttpCore } from './http-core.js';
import { addFirmwareHttpOptions, firmwareHttpSettings } from './http-options.js';
import { createFirmwareLineService } from './line-api.js';

export const FIRMWARE_LINE_PORT = 9998;

export function command() {
  const cmd = addFirmwareHttpOptions(addListenOptions(new Command('firmware'), FIRMWARE_LINE_PORT))
    .description(`firmware signing daemon: kernel modules, swupdate, Mender, OP-TEE (line protocol, default port ${FIRMWARE_LINE_PORT}; digsigserver HTTP API)`)
    .option(
      '--key-root <dir>',
      'digsigserver key layout: <dir>/<machine or distro>/<kmodsign|swupdate|mender|opteesign>/<key files>; private keys mode 0600, or <key file>.pkcs11 holding a pkcs11: URI (HSM)',
    );
  cmd.action(() =>
    runDaemonProcess('firmware', cmd, async (opts, log) => {
      const listen = listenSettings(opts);
      const keyRootDir = required(opts.keyRoot, '--key-root');
      // PEM keys are read here; `<key file>.pkcs11` references open their HSM keys (login, verified test signatures).
      const keyRoot = await openKeyRoot(keyRootDir, { callMsMax: listen.limits.backendCallMsMax, log });
      const entries = keyRoot.entries();
      log.info({ keyRoot: keyRootDir, keys: entries.map((e) => `${e.signType}:${e.selector}`) }, 'key root loaded');
      const signer = createFirmwareSigner(keyRoot);
      // Decoded objects are at most 3/4 of a line; the line limit is the real bound.
      const service = createFirmwareLineService({ signer, keyRoot, reply: listen.reply, objectBytesMax: listen.limits.lineBytesMax });
      let line: Awaited<ReturnType<typeof startTcpServer>>;
      try {
        line = await startTcpServer({
          host: listen.host,
          port: listen.port,
          mode: listen.mode,
          limits: listen.limits,
          log,
          service,
          channel: null,
          policy: listen.policy,
        });
      } catch (err) {
        await keyRoot.close();
        throw err;
      }
      log.info({ host: listen.host, port: line.address.port, protocol: 'line' }, 'listening');
      const httpSettings = firmwareHttpSettings(opts);
      let http: { close(): Promise<void> } | null = null;
      try {
        if (httpSettings) http = await startFirmwareHttp({ settings: httpSettings, log, core: firmwareHttpCore(signer) });
      } catch (err) {
        await line.close();
        await keyRoot.close();
        throw err;
      }
      return async () => {
        await Promise.all([line.close(), http?.close()]);
        await keyRoot.close();
      };
    }),
  );
  return cmd;
}
