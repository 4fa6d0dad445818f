// Fixtures for the firmware line-protocol tests: the committed test key root (test/vectors/firmware,
// copied so keys can be 0600), a daemon on port 0 without HTTP, and runners for the real tools
// (sign-file, openssl cms / pkeyutl / req) that the firmware tests check signatures with.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openKeyRoot, type KeyRoot } from '../../../daemons/firmware/keys/key-root.js';
import { startDaemon, type RunningDaemon } from '../../helpers/daemon.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** Vectors and scripts are read from the source tree, wherever the compiled tests live (dist/, .build/x/). */
const REPO = findRepo(HERE);
const VECTORS = path.join(REPO, 'test/vectors/firmware');
export const SCRIPTS = path.join(REPO, 'scripts');
export const SIGN_FILE = '/usr/lib/linux-kbuild-6.1/scripts/sign-file';
export const MACHINE = 'qemux86-64';
export const DISTRO = 'poky';
export const RSA_MENDER_DISTRO = 'poky-rsa';

function findRepo(from: string): string {
  for (let dir = from; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'test/vectors/firmware/README.md')) && fs.existsSync(path.join(dir, 'scripts'))) return dir;
  }
  throw new Error(`no source tree above ${from}`);
}

export function vector(...parts: string[]): string {
  return path.join(VECTORS, ...parts);
}

export function readVector(...parts: string[]): Buffer {
  return fs.readFileSync(vector(...parts));
}

/** Copies the committed key root into `dir` with private keys 0600 (git does not keep modes). */
export function copyKeyRoot(dir: string): string {
  const root = path.join(dir, 'keyroot');
  fs.cpSync(vector('keyroot'), root, { recursive: true });
  for (const file of fs.readdirSync(root, { recursive: true, withFileTypes: true })) {
    if (file.isFile()) fs.chmodSync(path.join(file.parentPath, file.name), /\.(x509|cert)$/.test(file.name) ? 0o644 : 0o600);
  }
  return root;
}

/** A copy of the committed key root under `dir`, opened in-process as the daemon opens it. */
export function openTestKeyRoot(dir: string): Promise<KeyRoot> {
  return openKeyRoot(copyKeyRoot(dir), { callMsMax: 5_000 });
}

export async function startFirmware(keyRoot: string, extra: string[] = []): Promise<RunningDaemon> {
  return startDaemon(['firmware', '--key-root', keyRoot, '--port', '0', '--no-http', ...extra]);
}

export interface ToolResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
  out: string;
}

/** Runs a tool (argv, never a shell string) to completion; `out` is stdout+stderr as text. */
export function tool(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: Buffer } = {}): ToolResult {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, input: opts.input, maxBuffer: 64 * 1024 * 1024, timeout: 60_000 });
  const stderr = (r.stderr ?? Buffer.alloc(0)).toString();
  return { code: r.status, stdout: r.stdout ?? Buffer.alloc(0), stderr, out: (r.stdout ?? Buffer.alloc(0)).toString() + stderr };
}

/** Runs one of scripts/firmware-*.sh against the daemon on `port`. */
export function script(name: string, args: string[], port: number, cwd?: string): ToolResult {
  return tool('bash', [path.join(SCRIPTS, name), ...args], { cwd, env: { FIRMWARE_PORT: String(port), FIRMWARE_HOST: '127.0.0.1' } });
}

/** The kernel module signing key pair sign-file takes, as a key root holds it. */
export interface ModuleSigningKey {
  priv: string;
  cert: string;
}

/** `<keyRoot>/<machine>/kmodsign/kernel-signkey.{priv,x509}`: the module signing key of `machine`. */
export function moduleSigningKey(keyRoot: string, machine: string): ModuleSigningKey {
  const dir = path.join(keyRoot, machine, 'kmodsign');
  return { priv: path.join(dir, 'kernel-signkey.priv'), cert: path.join(dir, 'kernel-signkey.x509') };
}

/** Linux's sign-file as the kernel build runs it: `output` is `module` with its signature appended. */
export function signFile(hash: string, key: ModuleSigningKey, module: string, output: string): ToolResult {
  return tool(SIGN_FILE, [hash, key.priv, key.cert, module, output]);
}

/** `sign-file -d`: the detached PKCS#7 blob alone, written to `<module>.p7s` (the reference for the digest flow). */
export function signFileDetached(hash: string, key: ModuleSigningKey, module: string): ToolResult {
  return tool(SIGN_FILE, ['-d', hash, key.priv, key.cert, module]);
}

/** A signed module's two parts: the module bytes and the PKCS#7 blob before the 40-byte trailer (sig_len, magic). */
export function splitModuleSignature(signed: Buffer): { content: Buffer; sig: Buffer } {
  const sigLen = signed.readUInt32BE(signed.length - 28 - 4);
  const blobEnd = signed.length - 40;
  return { content: signed.subarray(0, blobEnd - sigLen), sig: signed.subarray(blobEnd - sigLen, blobEnd) };
}

/** openssl cms -verify of the detached DER `sig` over `content` trusting `caFile`; `certfile` gives the signer's certificate when `sig` has none. */
export function cmsVerify(sig: string, content: string, caFile: string, opts: { cwd?: string; certfile?: string; partialChain?: boolean } = {}): ToolResult {
  const certfile = opts.certfile ? ['-certfile', opts.certfile] : [];
  const partialChain = opts.partialChain ? ['-partial_chain'] : [];
  return tool(
    'openssl',
    [
      'cms',
      '-verify',
      '-binary',
      '-inform',
      'DER',
      '-in',
      sig,
      '-content',
      content,
      ...certfile,
      '-CAfile',
      caFile,
      ...partialChain,
      '-purpose',
      'any',
      '-out',
      '/dev/null',
    ],
    { cwd: opts.cwd },
  );
}

/** openssl pkeyutl -verify of an RSA-PSS (SHA-256, MGF1-SHA-256) signature over a bare digest with salt length `salt`, as OP-TEE checks a TA. */
export function pssDigestVerify(pub: string, digest: string, sig: string, salt: string, cwd?: string): ToolResult {
  const pkeyopts = ['digest:sha256', 'rsa_padding_mode:pss', `rsa_pss_saltlen:${salt}`, 'rsa_mgf1_md:sha256'].flatMap((o) => ['-pkeyopt', o]);
  return tool('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', pub, ...pkeyopts, '-in', digest, '-sigfile', sig], { cwd });
}

/** `openssl req` arguments for a new RSA-2048 key (`keyOut`, unencrypted) and its self-signed certificate (`certOut`). */
export function selfSignedCertArgs(keyOut: string, certOut: string, subject: string, days: number, extra: string[] = []): string[] {
  return ['req', '-new', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyOut, '-out', certOut, '-days', String(days), '-subj', subject, ...extra];
}

/** `OK <value>` → value; anything else fails loudly with the line. */
export function okValue(reply: string): string {
  if (!reply.startsWith('OK ')) throw new Error(`expected OK, got: ${reply.slice(0, 200)}`);
  return reply.slice(3);
}
