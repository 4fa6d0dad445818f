// Client-channel fixtures: a server certificate and clients enrolled with the signerd commands a
// user runs (tls selfsigned, client new, client psk), a registry, and the outside TLS clients
// (openssl s_client, socat, ncat, stunnel + nc, curl) run as processes with a deadline.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import forge from 'node-forge';
import path from 'node:path';
import { runSignerd } from '../../helpers/daemon.js';
import { freePort } from '../../helpers/ports.js';
import { until } from '../../helpers/polling.js';

export interface ChannelFiles {
  dir: string;
  serverCert: string;
  serverKey: string;
  /** Registered certificate clients (name → files), an unregistered one, and PSK clients. */
  certs: Record<string, { cert: string; key: string; line: string }>;
  psks: Record<string, { hexFile: string; stunnelFile: string; line: string }>;
}

/** Enrolls with the real commands; every registry line is the one the command printed. */
export async function enroll(dir: string, certClients: string[], pskClients: string[]): Promise<ChannelFiles> {
  const server = await runSignerd(['tls', 'selfsigned', '--out', path.join(dir, 'server')]);
  if (server.code !== 0) throw new Error(`tls selfsigned: ${server.stderr}`);
  const files: ChannelFiles = { dir, serverCert: path.join(dir, 'server/server.crt'), serverKey: path.join(dir, 'server/server.key'), certs: {}, psks: {} };
  for (const name of certClients) {
    const made = await runSignerd(['client', 'new', name, '--out', path.join(dir, 'clients')]);
    if (made.code !== 0) throw new Error(`client new: ${made.stderr}`);
    files.certs[name] = { cert: path.join(dir, 'clients', `${name}.crt`), key: path.join(dir, 'clients', `${name}.key`), line: lastLine(made.stdout) };
  }
  for (const name of pskClients) {
    const made = await runSignerd(['client', 'psk', name, '--out', path.join(dir, 'clients')]);
    if (made.code !== 0) throw new Error(`client psk: ${made.stderr}`);
    files.psks[name] = {
      hexFile: path.join(dir, 'clients', `${name}.psk`),
      stunnelFile: path.join(dir, 'clients', `${name}.psk.stunnel`),
      line: lastLine(made.stdout),
    };
  }
  return files;
}

/** A daemon's options for client channels: the enrolled server certificate and key, and `registry`. */
export function channelArgs(files: ChannelFiles, registry: string): string[] {
  return ['--tls-cert', files.serverCert, '--tls-key', files.serverKey, '--clients', registry];
}

/** A sign-ecdsa daemon on a free port behind client channels, with a state directory of its own. */
export function channelSignArgs(files: ChannelFiles, keyFile: string, stateDir: string, registry: string): string[] {
  return ['sign-ecdsa', '--key', keyFile, '--port', '0', '--state-dir', stateDir, ...channelArgs(files, registry)];
}

export function writeRegistry(file: string, lines: string[]): void {
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, ['# test registry', ...lines, ''].join('\n'), { mode: 0o600 });
  fs.renameSync(tmp, file);
}

function lastLine(text: string): string {
  return text.trimEnd().split('\n').at(-1)!;
}

export interface ToolRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a client with `input` on stdin; killed after timeoutMs (its output so far is kept). */
export function runTool(cmd: string, args: string[], input: string, timeoutMs = 10_000, env?: NodeJS.ProcessEnv): Promise<ToolRun> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

/** openssl s_client as docs/channels.md shows it: TLS 1.3, the server checked against its certificate. */
export function opensslArgs(files: ChannelFiles, port: number, who: { cert: string; key: string } | { pskHex: string; identity: string } | null): string[] {
  const args = [
    's_client',
    '-quiet',
    '-tls1_3',
    '-verify_return_error',
    '-CAfile',
    files.serverCert,
    '-verify_ip',
    '127.0.0.1',
    '-connect',
    `127.0.0.1:${port}`,
  ];
  if (who && 'cert' in who) args.push('-cert', who.cert, '-key', who.key);
  if (who && 'pskHex' in who) args.push('-psk_identity', who.identity, '-psk', who.pskHex);
  return args;
}

export function openssl(files: ChannelFiles, port: number, input: string, who: Parameters<typeof opensslArgs>[2]): Promise<ToolRun> {
  return runTool('openssl', opensslArgs(files, port, who), input);
}

export function pskHex(files: ChannelFiles, name: string): string {
  return fs.readFileSync(files.psks[name]!.hexFile, 'utf8').trim();
}

/** stunnel 4 in client mode on a free local port, so a plain `nc` pipeline reaches the TLS daemon. */
export async function startStunnel(files: ChannelFiles, port: number, client: string): Promise<{ port: number; stop(): void }> {
  const local = await freePort();
  const conf = path.join(files.dir, `stunnel-${local}.conf`);
  const { cert, key } = files.certs[client]!;
  fs.writeFileSync(
    conf,
    [
      'foreground = yes',
      'pid =',
      '[signerd]',
      'client = yes',
      `accept = 127.0.0.1:${local}`,
      `connect = 127.0.0.1:${port}`,
      `cert = ${cert}`,
      `key = ${key}`,
      `CAfile = ${files.serverCert}`,
      'verifyPeer = yes',
      'sslVersionMin = TLSv1.3',
      '',
    ].join('\n'),
  );
  const proc = spawn('stunnel4', [conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr.on('data', (d: Buffer) => (log += d.toString()));
  const started = await until(() => proc.exitCode !== null || /Configuration successful|bound to/i.test(log), 10_000, 50);
  if (!started || proc.exitCode !== null) throw new Error(`stunnel did not start: ${log}`);
  return { port: local, stop: () => proc.kill('SIGKILL') };
}

/**
 * A client certificate with the validity and extended key usage given (what `client new` never
 * makes: expired, not yet valid, a server's), RSA and self-signed with node-forge; registered by pin.
 */
export function oddClientCertificate(
  dir: string,
  name: string,
  opts: { notBefore: Date; notAfter: Date; usage: 'clientAuth' | 'serverAuth' },
): { cert: string; key: string; line: string } {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
  cert.serialNumber = '01';
  cert.validity.notBefore = opts.notBefore;
  cert.validity.notAfter = opts.notAfter;
  cert.setSubject([{ name: 'commonName', value: name }]);
  cert.setIssuer([{ name: 'commonName', value: name }]);
  cert.setExtensions([{ name: 'extKeyUsage', [opts.usage]: true }]);
  cert.sign(forge.pki.privateKeyFromPem(keyPem), forge.md.sha256.create());
  const certPem = forge.pki.certificateToPem(cert);
  const files = { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
  fs.writeFileSync(files.cert, certPem);
  fs.writeFileSync(files.key, keyPem, { mode: 0o600 });
  const pin = crypto.createHash('sha256').update(new crypto.X509Certificate(certPem).raw).digest('hex');
  return { ...files, line: `${name} cert-sha256:${pin}` };
}
