#!/usr/bin/env node
// The signerd command line: one entry per daemon and admin task, each loaded only when it is the one
// invoked (a daemon's process holds that daemon's code, not all seven); nothing is composed here.
// Started through bin/signerd.cts, which sizes the thread pool first.
import { Command, CommanderError, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { EXIT_CONFIG, failureLine } from '../lib/errors.js';
import { packageVersion } from '../lib/package-version.js';

// `signerd show <sig> | head -1`: a reader that stops early is normal for a command-line tool, not
// a crash with a stack trace. Daemons log through their own file descriptor writer, not this stream.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const RECORD_SUMMARIES = {
  show: "print a signature's record and whether it is valid, revoked, expired or unknown",
  revoke: 'revoke a signature now (verify answers not valid); the record is kept for reinstate',
  reinstate: 'make a revoked signature valid again',
  export: "print a signature's record as JSON (for backup, or to restore after a redis-cli DEL)",
  import: 'write records exported earlier (JSON lines from a file or stdin) back as live records',
} as const;

/** A top-level command: its name and one-line summary for `signerd --help`, and how to load it. */
interface CommandEntry {
  name: string;
  summary: string;
  load(): Promise<CommandUnknownOpts>;
}

const COMMANDS: CommandEntry[] = [
  { name: 'sign-rsa', summary: 'RSA-PSS signing daemon (line protocol, port 9948)', load: async () => (await import('../daemons/sign-rsa/main.js')).command() },
  {
    name: 'verify-rsa',
    summary: 'RSA-PSS verify daemon (line protocol, port 9949)',
    load: async () => (await import('../daemons/verify-rsa/main.js')).command(),
  },
  {
    name: 'sign-ecdsa',
    summary: 'ECDSA P-384 signing daemon (line protocol, port 9848)',
    load: async () => (await import('../daemons/sign-ecdsa/main.js')).command(),
  },
  {
    name: 'verify-ecdsa',
    summary: 'ECDSA P-384 verify daemon (line protocol, port 9849)',
    load: async () => (await import('../daemons/verify-ecdsa/main.js')).command(),
  },
  {
    name: 'firmware',
    summary: 'firmware signing daemon: kernel modules, swupdate, Mender, OP-TEE, UEFI, i.MX HAB4, U-Boot FIT (line 9998, HTTP 9999)',
    load: async () => (await import('../daemons/firmware/main.js')).command(),
  },
  {
    name: 'hmac',
    summary: 'HMAC-SHA256 daemon compatible with cryptoserver (MAC 9850, verify 9851, optional HTTP)',
    load: async () => (await import('../daemons/hmac/main.js')).command(),
  },
  {
    name: 'tezos',
    summary: 'Tezos remote signer (line 9732, octez HTTP 6732), keygen, watermarks',
    load: async () => (await import('../daemons/tezos/main.js')).command(),
  },
  {
    name: 'keygen',
    summary: 'create a key pair for sign-rsa (RSA-4096) or sign-ecdsa (P-384)',
    load: async () => (await import('../lib/admin/keygen-command.js')).keygenCommand(),
  },
  {
    name: 'hsm',
    summary: 'PKCS#11 tokens: list keys, generate or import a key for a daemon, print a public key',
    load: async () => {
      const [{ hsmCommand }, { TEZOS_KEY_FORMAT }] = await Promise.all([
        import('../lib/admin/hsm-command.js'),
        import('../daemons/tezos/admin/hsm-import-format.js'),
      ]);
      return hsmCommand([TEZOS_KEY_FORMAT]);
    },
  },
  ...(['show', 'revoke', 'reinstate', 'export', 'import'] as const).map((name) => ({
    name,
    summary: RECORD_SUMMARIES[name],
    load: async () => (await import('../lib/admin/record-commands.js')).recordCommands().find((cmd) => cmd.name() === name)!,
  })),
  {
    name: 'store',
    summary: 'store init: create the PostgreSQL schema ahead of the daemons, and say what a commit survives',
    load: async () => (await import('../lib/admin/store-init-command.js')).storeInitCommand(),
  },
  {
    name: 'migrate-seed',
    summary: "import the Python signer-daemon's Redis records as live records, after verifying each",
    load: async () => (await import('../lib/admin/seed-migration-command.js')).seedMigrationCommand(),
  },
  {
    name: 'client',
    summary: 'enroll client-channel clients: certificates, pre-shared keys, registry lines',
    load: async () => (await import('../lib/admin/channel-commands.js')).clientCommand(),
  },
  {
    name: 'tls',
    summary: "make the daemons' TLS certificate (tls selfsigned)",
    load: async () => (await import('../lib/admin/channel-commands.js')).tlsCommand(),
  },
  {
    name: 'log',
    summary: 'the transparency log: keys, checkpoints, entries, proofs, bundles, offline verification, audit',
    load: async () => (await import('../lib/admin/log-command.js')).logCommand(),
  },
];

const program = new Command('signerd')
  .version(packageVersion(), '-V, --version')
  .description('Small line-protocol signing daemons and their admin commands. `signerd <command> --help` documents each.')
  .showHelpAfterError()
  .enablePositionalOptions();

// Who speaks on stderr: `signerd <command> [<subcommand>]` once the command is known.
let label = 'signerd';

for (const entry of COMMANDS) {
  // A stand-in that takes everything after its name and hands it to the real command once loaded.
  program
    .command(entry.name)
    .description(entry.summary)
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .action(async () => {
      const real = await entry.load();
      const rest = process.argv.slice(process.argv.indexOf(entry.name, 2) + 1);
      // The label names the command as deep as it was typed (`signerd tezos watermark set`).
      const path: string[] = [entry.name];
      let at: CommandUnknownOpts = real;
      for (const word of rest) {
        const sub = at.commands.find((c) => c.name() === word);
        if (!sub) break;
        path.push(word);
        at = sub;
      }
      label = `signerd ${path.join(' ')}`;
      const root = new Command('signerd').enablePositionalOptions().addCommand(real);
      overrideExits(root);
      await root.parseAsync([entry.name, ...rest], { from: 'user' });
    });
}

// A usage error must not restart-loop under systemd: it exits 78 like any other bad configuration,
// and says so in the one-line shape of every start-up refusal (docs/errors.md).
// The error names the command that found it, however deep (`signerd tezos watermark show`).
// A command of subcommands run without one prints its help on stderr, then that line.
function overrideExits(cmd: CommandUnknownOpts): void {
  cmd.exitOverride((err) => {
    if (err.code === 'commander.help' && err.exitCode !== 0) process.stderr.write(`${commandPath(cmd)}: CONFIG_INVALID: ${missingCommand(cmd)}\n`);
    throw err;
  });
  cmd.configureOutput({ outputError: (text, write) => write(`${commandPath(cmd)}: CONFIG_INVALID: ${text.replace(/^error: /, '')}`) });
  cmd.commands.forEach(overrideExits);
}

function missingCommand(cmd: CommandUnknownOpts): string {
  if (!cmd.parent) return 'no command given (signerd --help lists them)';
  const names = cmd.commands.map((sub) => sub.name()).filter((name) => name !== 'help');
  return `no subcommand given (${names.join(', ')})`;
}

function commandPath(cmd: CommandUnknownOpts): string {
  const names: string[] = [];
  for (let at: CommandUnknownOpts | null = cmd; at?.parent; at = at.parent) names.unshift(at.name());
  return ['signerd', ...names].join(' ');
}
overrideExits(program);
try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : EXIT_CONFIG);
  process.stderr.write(failureLine(label, err));
  process.exit(EXIT_CONFIG);
}
