// Fixtures for the HSM-backed firmware tests: a throwaway SoftHSM2 token holding the committed
// test keys (imported by `signerd hsm import`'s code, in this process), and a key root naming them by `.pkcs11` references.
import fs from 'node:fs';
import path from 'node:path';
import { openKeyRoot, type KeyRoot } from '../../../daemons/firmware/keys/key-root.js';
import { runSignerd, startDaemon, type RunningDaemon } from '../../helpers/daemon.js';
import { importIntoTestToken, type TestToken } from '../../helpers/softhsm.js';
import { copyKeyRoot, tool } from './line-fixtures.js';

/** The committed key root's private keys: where each lives, its token label, and `hsm import --for`. */
export const HSM_KEYS = [
  { file: 'qemux86-64/kmodsign/kernel-signkey.priv', label: 'kmod-qemux86-64', for: 'firmware' },
  { file: 'qemux86-64/opteesign/optee-signing-key.pem', label: 'optee-qemux86-64', for: 'firmware' },
  { file: 'poky/swupdate/rsa-private.key', label: 'swu-rsa-poky', for: 'firmware' },
  { file: 'poky/swupdate/cms-private.key', label: 'swu-cms-poky', for: 'firmware' },
  { file: 'poky/mender/private.key', label: 'mender-poky', for: 'mender' },
  { file: 'poky-rsa/mender/private.key', label: 'mender-poky-rsa', for: 'firmware' },
  { file: 'qemux86-64/uefisign/db.key', label: 'uefi-qemux86-64', for: 'firmware' },
  { file: 'qemux86-64/fitimagesign/dev.key', label: 'fit-qemux86-64', for: 'firmware' },
] as const;

/** A distro whose swupdate CMS signer is ECDSA P-256 (made per run; the committed CMS key is RSA). */
export const EC_CMS_DISTRO = 'poky-ec';

export interface HsmKeyRoots {
  /** The committed key root as PEM files (what the reference tools use). */
  fileRoot: string;
  /** The same keys, each PEM replaced by `<file>.pkcs11` naming the imported HSM key. */
  hsmRoot: string;
}

/** Imports every committed private key into the token and builds both key roots under `dir`. */
export async function importKeyRoot(dir: string, token: TestToken): Promise<HsmKeyRoots> {
  for (const sub of ['files', 'hsm']) fs.mkdirSync(path.join(dir, sub), { recursive: true });
  const fileRoot = copyKeyRoot(path.join(dir, 'files'));
  const hsmRoot = copyKeyRoot(path.join(dir, 'hsm'));
  for (const key of HSM_KEYS) {
    await importIntoTestToken(token, key.label, key.for, path.join(fileRoot, key.file));
    fs.rmSync(path.join(hsmRoot, key.file));
    fs.writeFileSync(path.join(hsmRoot, `${key.file}.pkcs11`), `# ${key.label}, imported by signerd hsm import\n${token.uri(key.label)}\n`);
  }
  const ecFiles = path.join(fileRoot, EC_CMS_DISTRO, 'swupdate');
  const ecHsm = path.join(hsmRoot, EC_CMS_DISTRO, 'swupdate');
  for (const d of [ecFiles, ecHsm]) fs.mkdirSync(d, { recursive: true });
  const keyFile = path.join(ecFiles, 'cms-private.key');
  const made = tool('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '3650',
    '-subj',
    '/O=SWUpdate/CN=target-ec',
    '-keyout',
    keyFile,
    '-out',
    path.join(ecFiles, 'cms.cert'),
  ]);
  if (made.code !== 0) throw new Error(`openssl req: ${made.out}`);
  fs.chmodSync(keyFile, 0o600);
  fs.copyFileSync(path.join(ecFiles, 'cms.cert'), path.join(ecHsm, 'cms.cert'));
  await importIntoTestToken(token, 'swu-cms-poky-ec', 'mender', keyFile);
  fs.writeFileSync(path.join(ecHsm, 'cms-private.key.pkcs11'), `${token.uri('swu-cms-poky-ec')}\n`);
  return { fileRoot, hsmRoot };
}

/** The firmware daemon on port 0 over a key root, with the token's SOFTHSM2_CONF. */
export function startHsmFirmware(keyRoot: string, token: TestToken, extra: string[] = [], listeners = 1): Promise<RunningDaemon> {
  const http = listeners > 1 ? ['--http-port', '0'] : ['--no-http'];
  return startDaemon(['firmware', '--key-root', keyRoot, '--port', '0', ...http, ...extra], { env: token.env, listeners, timeoutMs: 30_000 });
}

/** `hsmRoot` opened in this process as the daemon opens it, under the token's SOFTHSM2_CONF until the test ends (then closed, the variable restored). */
export async function openHsmKeyRoot(t: { teardown(fn: () => unknown): void }, hsmRoot: string, token: TestToken): Promise<KeyRoot> {
  const saved = process.env['SOFTHSM2_CONF'];
  process.env['SOFTHSM2_CONF'] = token.env.SOFTHSM2_CONF;
  const root = await openKeyRoot(hsmRoot, { callMsMax: 10_000 });
  t.teardown(async () => {
    await root.close();
    if (saved === undefined) delete process.env['SOFTHSM2_CONF'];
    else process.env['SOFTHSM2_CONF'] = saved;
  });
  return root;
}

/** Start-up that must fail: the daemon's one stderr line (exit code included in the message). */
export async function startFailure(keyRoot: string, token: TestToken): Promise<string> {
  const r = await runSignerd(['firmware', '--key-root', keyRoot, '--port', '0', '--no-http'], '', token.env);
  return `exit ${r.code}: ${r.stderr.trim()}`;
}
