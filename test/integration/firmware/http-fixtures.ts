// Fixtures for the firmware HTTP tests: a digsigserver-layout key root made with the real openssl
// (RSA-2048 and P-256), and small wrappers to run the outside tools (curl, tar, ...) the way the
// Yocto classes do. Everything lives under one test directory that tap removes.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tarHeader } from '../../../daemons/firmware/tar/tar-writer.js';
import { startDaemon, type RunningDaemon } from '../../helpers/daemon.js';
import { selfSignedCertArgs } from './line-fixtures.js';
import { until } from '../../helpers/polling.js';

interface KeyRootFixture {
  keyRoot: string;
  /** PEM public keys and certificates for the verifying tools. */
  pub: { kmodCert: string; swupdateRsa: string; cmsCert: string; menderRsa: string; menderEc: string; optee: string; uefiCert: string };
  /** Private keys, only for building references with the real tools (sign-file). */
  priv: { kmod: string };
}

export const MACHINE = 'testmachine';
export const DISTRO = 'testdistro';
export const EC_DISTRO = 'ecdistro';

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Keys made once per test process: each daemon gets a copy (key generation is seconds on a loaded box). */
let madeKeys: { base: string; fixture: KeyRootFixture } | null = null;

/**
 * `<root>/<machine|distro>/<signtype>/...` exactly as digsigserver lays keys out, under `base`
 * (`base/keys`, `base/pub`). The keys are generated on the first call and copied, modes kept, after.
 */
function makeKeyRoot(base: string): KeyRootFixture {
  if (!madeKeys) {
    const keysBase = fs.mkdtempSync(path.join(os.tmpdir(), 'signerd-fw-keys-'));
    process.once('exit', () => fs.rmSync(keysBase, { recursive: true, force: true }));
    madeKeys = { base: keysBase, fixture: generateKeyRoot(keysBase) };
  }
  const from = madeKeys.base;
  for (const dir of ['keys', 'pub']) fs.cpSync(path.join(from, dir), path.join(base, dir), { recursive: true });
  const rebase = (file: string) => path.join(base, path.relative(from, file));
  const { pub, priv } = madeKeys.fixture;
  return {
    keyRoot: path.join(base, 'keys'),
    pub: {
      kmodCert: rebase(pub.kmodCert),
      swupdateRsa: rebase(pub.swupdateRsa),
      cmsCert: rebase(pub.cmsCert),
      menderRsa: rebase(pub.menderRsa),
      menderEc: rebase(pub.menderEc),
      optee: rebase(pub.optee),
      uefiCert: rebase(pub.uefiCert),
    },
    priv: { kmod: rebase(priv.kmod) },
  };
}

function generateKeyRoot(base: string): KeyRootFixture {
  const keyRoot = path.join(base, 'keys');
  const pubDir = path.join(base, 'pub');
  const dir = (...p: string[]) => {
    const d = path.join(keyRoot, ...p);
    fs.mkdirSync(d, { recursive: true });
    return d;
  };
  fs.mkdirSync(pubDir, { recursive: true });
  const kmod = dir(MACHINE, 'kmodsign');
  openssl(
    selfSignedCertArgs('kernel-signkey.priv', 'kernel-signkey.x509', '/CN=Test module signing key/O=Test', 3650, ['-addext', 'extendedKeyUsage=codeSigning']),
    kmod,
  );
  const swu = dir(DISTRO, 'swupdate');
  openssl(['genrsa', '-out', 'rsa-private.key', '2048'], swu);
  openssl(selfSignedCertArgs('cms-private.key', 'cms.cert', '/O=SWUpdate/CN=target', 3650), swu);
  const mender = dir(DISTRO, 'mender');
  openssl(['genrsa', '-out', 'private.key', '2048'], mender);
  const menderEc = dir(EC_DISTRO, 'mender');
  openssl(['ecparam', '-genkey', '-name', 'prime256v1', '-noout', '-out', 'private.key'], menderEc);
  const optee = dir(MACHINE, 'opteesign');
  openssl(['genrsa', '-out', 'optee-signing-key.pem', '2048'], optee);
  const uefi = dir(MACHINE, 'uefisign');
  openssl(selfSignedCertArgs('db.key', 'db.crt', '/CN=Test UEFI db key', 3650), uefi);
  const pub = {
    kmodCert: path.join(kmod, 'kernel-signkey.x509'),
    swupdateRsa: path.join(pubDir, 'swupdate-rsa.pub'),
    cmsCert: path.join(swu, 'cms.cert'),
    menderRsa: path.join(pubDir, 'mender-rsa.pub'),
    menderEc: path.join(pubDir, 'mender-ec.pub'),
    optee: path.join(pubDir, 'optee.pub'),
    uefiCert: path.join(uefi, 'db.crt'),
  };
  openssl(['pkey', '-in', path.join(swu, 'rsa-private.key'), '-pubout', '-out', pub.swupdateRsa], base);
  openssl(['pkey', '-in', path.join(mender, 'private.key'), '-pubout', '-out', pub.menderRsa], base);
  openssl(['pkey', '-in', path.join(menderEc, 'private.key'), '-pubout', '-out', pub.menderEc], base);
  openssl(['pkey', '-in', path.join(optee, 'optee-signing-key.pem'), '-pubout', '-out', pub.optee], base);
  for (const key of [
    path.join(kmod, 'kernel-signkey.priv'),
    path.join(swu, 'rsa-private.key'),
    path.join(swu, 'cms-private.key'),
    path.join(mender, 'private.key'),
    path.join(menderEc, 'private.key'),
    path.join(optee, 'optee-signing-key.pem'),
    path.join(uefi, 'db.key'),
  ]) {
    fs.chmodSync(key, 0o600);
  }
  return { keyRoot, pub, priv: { kmod: path.join(kmod, 'kernel-signkey.priv') } };
}

export interface RunResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs a tool to completion (argv only, never a shell string) and returns everything it said. */
export function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: Buffer } = {}): RunResult {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, input: opts.input, maxBuffer: 64 * 1024 * 1024, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout ?? Buffer.alloc(0), stderr: (r.stderr ?? Buffer.alloc(0)).toString() };
}

/** curl as the Yocto classes call it (`--silent --fail -X POST`), plus `-w` so tests see the status and the error code header. */
export function curlPost(
  url: string,
  formArgs: string[],
  opts: { cwd?: string; output?: string; extra?: string[] } = {},
): { code: number | null; status: number; errorCode: string; stderr: string } {
  const args = [
    '--silent',
    '--show-error',
    '--fail',
    '-X',
    'POST',
    ...formArgs,
    '--output',
    opts.output ?? '/dev/null',
    '-w',
    '%{http_code} %header{x-signerd-error-code}',
    ...(opts.extra ?? []),
    url,
  ];
  const r = run('curl', args, opts.cwd ? { cwd: opts.cwd } : {});
  const [status = '0', errorCode = ''] = r.stdout.toString().trim().split(' ');
  return { code: r.code, status: Number(status), errorCode, stderr: r.stderr };
}

/**
 * Every file and directory under `dir`, relative; used to prove a request left nothing behind. The
 * daemon removes request directories while this walks (that is what callers wait for), so a
 * directory that is gone by the time it is read is just gone, not an error.
 */
export function listTree(dir: string, prefix = ''): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return entries
    .flatMap((e) => {
      const relative = prefix === '' ? e.name : `${prefix}/${e.name}`;
      return e.isDirectory() ? [relative, ...listTree(path.join(dir, e.name), relative)] : [relative];
    })
    .sort();
}

export interface FirmwareHttp {
  /** http://127.0.0.1:<port> of the HTTP front end. */
  url: string;
  keys: KeyRootFixture;
  /** The test's own directory (scratch files live here). */
  base: string;
  /** Parent given as --http-temp-dir; after each request only the daemon's empty private dir remains. */
  tempParent: string;
  /** --mender-artifact-root. */
  artifactRoot: string;
  daemon: RunningDaemon;
}

/** Starts `signerd firmware` (line port 0, HTTP port 0) on a fresh key root (`addKeys` may add to it first); stopped at teardown. */
export async function startFirmwareDaemon(
  t: { testdir(): string; teardown(fn: () => unknown): void },
  extraArgs: string[] = [],
  addKeys?: (keyRoot: string) => void,
): Promise<FirmwareHttp> {
  const base = t.testdir();
  const keys = makeKeyRoot(base);
  addKeys?.(keys.keyRoot);
  const tempParent = path.join(base, 'tmp');
  const artifactRoot = path.join(base, 'artifacts');
  fs.mkdirSync(tempParent);
  fs.mkdirSync(artifactRoot);
  const daemon = await startDaemon(
    [
      'firmware',
      '--key-root',
      keys.keyRoot,
      '--port',
      '0',
      '--http-port',
      '0',
      '--http-temp-dir',
      tempParent,
      '--mender-artifact-root',
      artifactRoot,
      ...extraArgs,
    ],
    { listeners: 2 },
  );
  t.teardown(() => daemon.stop());
  return { url: `http://127.0.0.1:${daemon.ports[1]}`, keys, base, tempParent, artifactRoot, daemon };
}

/**
 * What the daemon's private temp dir holds: [] when every request cleaned up. A file reply's directory
 * is removed just after the last byte is sent, so this waits (up to 5 s) for it to become empty.
 */
export async function leftovers(http: FirmwareHttp): Promise<string[]> {
  const list = () => fs.readdirSync(http.tempParent).flatMap((d) => listTree(path.join(http.tempParent, d)).map((f) => `${d}/${f}`));
  await until(() => list().length === 0, 5_000, 50);
  return list();
}

/**
 * An uncompressed tar of `leading` (small files, in order) then `count` directories whose names are
 * `nameBytes` long (GNU 'L' records): the audit's pax-names upload, which routes holding every
 * entry kept in memory whole (16,000 names of 64 KiB took an OP-TEE daemon past 1 GB).
 */
export function longNamesTar(count: number, nameBytes: number, leading: Record<string, string> = {}): Buffer {
  const base = { mode: 0o644, uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: 0, linkname: '' };
  const parts: Buffer[] = [];
  for (const [name, content] of Object.entries(leading)) {
    const bytes = Buffer.from(content);
    parts.push(tarHeader({ ...base, name, type: 'file', size: bytes.length }), bytes, Buffer.alloc((512 - (bytes.length % 512)) % 512));
  }
  for (let i = 0; i < count; i++) {
    const name = `${String(i).padStart(6, '0')}${'a'.repeat(nameBytes - 6)}`;
    parts.push(tarHeader({ ...base, name, type: 'directory', mode: 0o755, size: 0 }));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}
