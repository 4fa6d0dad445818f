// Enrollment for client channels, psimbols' "minimal client configuration": `signerd client new`
// (an Ed25519 key and self-signed certificate), `client psk` (a pre-shared key in the forms openssl
// and stunnel read), `client fingerprint` (a certificate's pin) and `tls selfsigned` (a server
// certificate whose pin clients trust). Each prints what the other side needs, last.
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Command, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { DaemonError, EXIT_CONFIG, failureLine } from '../errors.js';
import { parseCount } from '../config/numbers.js';
import { selfSignedCertificate } from '../channels/self-signed-certificate.js';
import { makeDirectory } from '../config/make-directory.js';
import { writeNewFile } from '../config/new-file.js';

/** Client names become file names and PSK identities: the registry's rule. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
/** Certificates made here last this long unless --days says otherwise. */
const CERTIFICATE_DAYS = 825;
/** A host name as a certificate's dNSName holds it (RFC 5280 §4.2.1.6; a wildcard as the whole first label). */
const DNS_NAME = /^(?=.{1,253}$)(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
/** 100 years: beyond, notAfter passes what X.509 tools read (openssl prints "Bad time value"). */
const CERTIFICATE_DAYS_MAX = 36_500;
/** PSK length in ASCII characters: stunnel uses the secret's characters as the key bytes (48 bytes, 288 bits). */
const PSK_CHARS = 48;

async function run(cmd: CommandUnknownOpts, body: () => void): Promise<void> {
  try {
    body();
  } catch (err) {
    process.stderr.write(failureLine(`signerd ${cmd.parent?.name() ?? ''} ${cmd.name()}`, err));
    process.exitCode = EXIT_CONFIG;
  }
  return Promise.resolve();
}

function checkedName(name: string): string {
  if (!NAME.test(name)) throw new DaemonError('CONFIG_INVALID', `the client name must match ${NAME.source}`);
  return name;
}

/** Writes a new file (never over an old one); secrets 0600, public material 0644. */
function writeNew(file: string, content: string, secret: boolean): void {
  writeNewFile(file, content, secret ? 0o600 : 0o644);
}

function pinOf(certificatePem: string | Buffer): string {
  return `cert-sha256:${crypto.createHash('sha256').update(new crypto.X509Certificate(certificatePem).raw).digest('hex')}`;
}

function clientNew() {
  const cmd = new Command('new')
    .description('make an Ed25519 key (mode 0600) and a self-signed certificate for a client; prints its registry line last')
    .argument('<name>', 'the client name (the registry name, logged with each request)')
    .requiredOption('--out <dir>', 'directory for <name>.key and <name>.crt')
    .option('--days <n>', 'certificate lifetime in days', parseCount('--days', 1, CERTIFICATE_DAYS_MAX), CERTIFICATE_DAYS);
  return cmd.action((name, opts) =>
    run(cmd, () => {
      const client = checkedName(name);
      const { certificatePem, privateKeyPem } = selfSignedCertificate({ commonName: client, role: { kind: 'client' }, days: opts.days });
      makeDirectory(opts.out, 0o700);
      const keyFile = path.join(opts.out, `${client}.key`);
      const certFile = path.join(opts.out, `${client}.crt`);
      writeNew(keyFile, privateKeyPem, true);
      writeNew(certFile, certificatePem, false);
      process.stdout.write(
        `key          ${keyFile} (secret: it stays with the client)\ncertificate  ${certFile}\nregistry line (add it to the daemon's --clients file):\n${client} ${pinOf(certificatePem)}\n`,
      );
    }),
  );
}

function clientPsk() {
  const cmd = new Command('psk')
    .description(
      "make a random pre-shared key for a client: hex (openssl s_client -psk) and stunnel's identity:secret form, both mode 0600; prints its registry line last",
    )
    .argument('<name>', 'the client name: its PSK identity on the wire')
    .requiredOption('--out <dir>', 'directory for <name>.psk (hex) and <name>.psk.stunnel (identity:secret)');
  return cmd.action((name, opts) =>
    run(cmd, () => {
      const client = checkedName(name);
      // Printable characters, because stunnel takes the secret's characters as the key; openssl
      // takes the same bytes in hex. 48 base64url characters carry 288 random bits.
      const secret = crypto.randomBytes((PSK_CHARS * 3) / 4).toString('base64url');
      const hex = Buffer.from(secret, 'ascii').toString('hex');
      makeDirectory(opts.out, 0o700);
      const hexFile = path.join(opts.out, `${client}.psk`);
      const stunnelFile = path.join(opts.out, `${client}.psk.stunnel`);
      writeNew(hexFile, hex + '\n', true);
      writeNew(stunnelFile, `${client}:${secret}\n`, true);
      process.stdout.write(
        `psk (hex; request_client.sh)     ${hexFile}\npsk (for stunnel PSKsecrets)      ${stunnelFile}\nregistry line (secret: the --clients file must be mode 0600):\n${client} psk:${hex}\n`,
      );
    }),
  );
}

function clientFingerprint() {
  const cmd = new Command('fingerprint')
    .description("print a certificate's pin (SHA-256 of its DER) as the registry writes it")
    .argument('<cert>', 'PEM certificate file');
  return cmd.action((file) =>
    run(cmd, () => {
      let pem: Buffer;
      try {
        pem = fs.readFileSync(file);
        process.stdout.write(`${pinOf(pem)}\n`);
      } catch (err) {
        throw new DaemonError('CONFIG_INVALID', `${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    }),
  );
}

export function clientCommand() {
  const client = new Command('client').description('enroll client-channel clients: a certificate or a pre-shared key, and the registry line for each');
  for (const make of [clientNew, clientPsk, clientFingerprint]) client.addCommand(make());
  return client;
}

export function tlsCommand() {
  const selfsigned = new Command('selfsigned')
    .description("make the daemons' TLS certificate: an Ed25519 key (mode 0600) and a self-signed certificate; prints its pin for clients last")
    .requiredOption('--out <dir>', 'directory for server.key and server.crt')
    .option('--dns <name...>', 'DNS names clients will use (default: localhost and this host name)')
    .option('--ip <address...>', 'IP addresses clients will use (default: 127.0.0.1 and ::1)')
    .option('--days <n>', 'certificate lifetime in days', parseCount('--days', 1, CERTIFICATE_DAYS_MAX), CERTIFICATE_DAYS);
  selfsigned.action((opts) =>
    run(selfsigned, () => {
      // This host's name only where it can be a certificate's name (some containers' names cannot).
      const dnsNames = opts.dns ?? [...new Set(['localhost', os.hostname()])].filter((n) => DNS_NAME.test(n));
      const ipAddresses = opts.ip ?? ['127.0.0.1', '::1'];
      // Checked here, not by the client that later fails to verify against a wrong name or address.
      for (const ip of ipAddresses)
        if (net.isIP(ip) === 0) throw new DaemonError('CONFIG_INVALID', `--ip ${JSON.stringify(ip.slice(0, 64))}: not an IPv4 or IPv6 address`);
      for (const name of dnsNames) {
        if (!DNS_NAME.test(name))
          throw new DaemonError(
            'CONFIG_INVALID',
            `--dns ${JSON.stringify(name.slice(0, 64))}: not a DNS name (letters, digits, hyphens, dots; * as a whole first label)`,
          );
      }
      const { certificatePem, privateKeyPem } = selfSignedCertificate({
        commonName: dnsNames[0] ?? 'signerd',
        role: { kind: 'server', dnsNames, ipAddresses },
        days: opts.days,
      });
      makeDirectory(opts.out, 0o700);
      const keyFile = path.join(opts.out, 'server.key');
      const certFile = path.join(opts.out, 'server.crt');
      writeNew(keyFile, privateKeyPem, true);
      writeNew(certFile, certificatePem, false);
      process.stdout.write(
        `key          ${keyFile} (secret: --tls-key)\ncertificate  ${certFile} (--tls-cert; clients trust this file: curl --cacert, openssl -CAfile, socat cafile=)\nnames        ${[...dnsNames, ...ipAddresses].join(', ')}\npin (clients can check the certificate they were given against it):\n${pinOf(certificatePem)}\n`,
      );
    }),
  );
  return new Command('tls').description("the daemons' own TLS certificate").addCommand(selfsigned);
}
