// signerd tezos: the octez remote signer (HTTP, 6732) and its line protocol (9732) over one core
// path, plus `keygen`, `hsm-key` and `watermark …`. The commands and their options; serve is composed in
// tezos-daemon.ts, loaded only when it runs (an admin command starts without the daemon's code).
import { Command } from '@commander-js/extra-typings';
import { runDaemonProcess } from '../../lib/server/daemon-process.js';
import { hsmKeyCommand } from './admin/hsm-key-command.js';
import { keygenCommand } from './admin/keygen-command.js';
import { watermarkCommand } from './admin/watermark-command.js';
import { defaultedOn, serveOptions, serveSettings } from './config/serve-options.js';

export function command(): Command {
  const tezos = new Command('tezos').description('Tezos remote signer: octez HTTP API and line protocol, policy, durable high watermarks');
  tezos.addCommand(serveCommand(), { isDefault: true });
  tezos.addCommand(keygenCommand());
  tezos.addCommand(hsmKeyCommand());
  tezos.addCommand(watermarkCommand());
  return tezos;
}

function serveCommand() {
  const cmd = serveOptions();
  cmd.action(() =>
    runDaemonProcess('tezos', cmd, async (opts, log) => {
      const settings = serveSettings(opts, defaultedOn(cmd));
      const { startTezosDaemon } = await import('./tezos-daemon.js');
      return startTezosDaemon(settings, log);
    }),
  );
  return cmd;
}
