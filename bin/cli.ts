#!/usr/bin/env node
// The signerd command line: a subcommand per daemon and per admin task; nothing is composed here.
// Started through bin/signerd.cts, which sizes the thread pool first.
import fs from 'node:fs';
import { Command, CommanderError } from 'commander';
import { EXIT_CONFIG, isDaemonError } from '../lib/errors.js';
import { command as signRsa } from '../daemons/sign-rsa/main.js';
import { command as verifyRsa } from '../daemons/verify-rsa/main.js';
import { command as signEcdsa } from '../daemons/sign-ecdsa/main.js';
import { command as verifyEcdsa } from '../daemons/verify-ecdsa/main.js';
import { command as hmac } from '../daemons/hmac/main.js';
import { command as firmware } from '../daemons/firmware/main.js';
import { command as tezos } from '../daemons/tezos/main.js';
import { keygenCommand } from '../lib/admin/keygen-command.js';
import { recordCommands } from '../lib/admin/record-commands.js';
import { seedMigrationCommand } from '../lib/admin/seed-migration-command.js';
import { hsmCommand } from '../lib/admin/hsm-command.js';
import { logCommand } from '../lib/admin/log-command.js';
import { TEZOS_KEY_FORMAT } from '../daemons/tezos/tezos-key-import.js';

// The version an operator reports is the package's: read from the package.json next to dist/.
const { version } = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

// `signerd show <sig> | head -1`: a reader that stops early is normal for a command-line tool, not
// a crash with a stack trace. Daemons log through their own file descriptor writer, not this stream.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const program = new Command('signerd')
  .version(version, '-V, --version')
  .description('Small line-protocol signing daemons and their admin commands. `signerd <command> --help` documents each.')
  .showHelpAfterError()
  .enablePositionalOptions();

for (const make of [signRsa, verifyRsa, signEcdsa, verifyEcdsa]) program.addCommand(make());
program.addCommand(firmware());
program.addCommand(hmac());
program.addCommand(tezos());
program.addCommand(keygenCommand());
program.addCommand(hsmCommand([TEZOS_KEY_FORMAT]));
for (const cmd of recordCommands()) program.addCommand(cmd);
program.addCommand(seedMigrationCommand());
program.addCommand(logCommand());

// A usage error must not restart-loop under systemd: it exits 78 like any other bad configuration.
const overrideExits = (cmd: Command): void => {
  cmd.exitOverride();
  cmd.commands.forEach(overrideExits);
};
overrideExits(program);
try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : EXIT_CONFIG);
  process.stderr.write(`signerd: ${isDaemonError(err) ? `${err.code}: ` : ''}${(err as Error).message}\n`);
  process.exit(EXIT_CONFIG);
}
