// The key root, laid out as digsigserver's: <root>/<machine or distro>/<signtype>/<files>. Every key
// is read, parsed and cross-checked once at start-up; requests only look keys up by validated name.
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { DaemonError } from '../../lib/errors.js';
import { loadPrivateKeyFile } from '../../lib/keys/key-file.js';
import { describeKey, type FirmwareKey } from './firmware-key.js';
import { loadCertificate, type FirmwareCertificate } from './certificate.js';

export type { FirmwareKey } from './firmware-key.js';
export type { FirmwareCertificate } from './certificate.js';

/** The signtypes this daemon serves; other digsigserver signtypes (tegrasign, imxsign, ...) are ignored. */
export const SIGN_TYPES = ['kmodsign', 'swupdate', 'mender', 'opteesign'] as const;
export type SignType = (typeof SIGN_TYPES)[number];

/** A private key with the certificate that names it (kernel modules, swupdate CMS). */
export interface CertifiedKey {
  readonly key: FirmwareKey;
  readonly certificate: FirmwareCertificate;
}

export interface SwupdateKeys {
  /** rsa-private.key: methods RSA and RSA-PSS. */
  readonly rsa: FirmwareKey | null;
  /** cms.cert + cms-private.key: method CMS. */
  readonly cms: CertifiedKey | null;
}

/** Lookups by machine or distro name; each throws BAD_REQUEST for a bad name, UNKNOWN_KEY for a missing key. */
export interface KeyRoot {
  modules(machine: string): CertifiedKey;
  swupdate(distro: string): SwupdateKeys;
  mender(distro: string): FirmwareKey;
  optee(machine: string): FirmwareKey;
  /** Every (selector, signtype) pair loaded, for the start-up log and KEYS requests. */
  entries(): Array<{ selector: string; signType: SignType }>;
}

const SELECTOR = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/;

/** machine / distro names: no path separators, no leading dot (so no `.` or `..`), at most 64 characters. */
export function validateSelector(name: string, field: string): string {
  if (!SELECTOR.test(name)) throw new DaemonError('BAD_REQUEST', `${field} must match [A-Za-z0-9_][A-Za-z0-9._-]{0,63}`);
  return name;
}

interface Loaded {
  kmodsign: Map<string, CertifiedKey>;
  swupdate: Map<string, SwupdateKeys>;
  mender: Map<string, FirmwareKey>;
  opteesign: Map<string, FirmwareKey>;
}

export function loadKeyRoot(root: string, log?: Logger): KeyRoot {
  const loaded: Loaded = { kmodsign: new Map(), swupdate: new Map(), mender: new Map(), opteesign: new Map() };
  for (const selector of listDirs(root)) {
    if (!SELECTOR.test(selector)) {
      log?.warn({ selector: selector.slice(0, 80) }, 'key root: directory name is not a valid machine/distro name; ignored');
      continue;
    }
    const dir = path.join(root, selector);
    const present = new Set(listDirs(dir));
    if (present.has('kmodsign')) loaded.kmodsign.set(selector, loadCertified(path.join(dir, 'kmodsign'), 'kernel-signkey.priv', 'kernel-signkey.x509', ['rsa']));
    if (present.has('swupdate')) loaded.swupdate.set(selector, loadSwupdate(path.join(dir, 'swupdate')));
    if (present.has('mender')) loaded.mender.set(selector, loadKey(path.join(dir, 'mender', 'private.key'), ['rsa', 'ec-p256']));
    if (present.has('opteesign')) loaded.opteesign.set(selector, loadKey(path.join(dir, 'opteesign', 'optee-signing-key.pem'), ['rsa']));
  }
  const find = <T>(map: Map<string, T>, name: string, field: string, signType: SignType): T => {
    const found = map.get(validateSelector(name, field));
    if (found === undefined) throw new DaemonError('UNKNOWN_KEY', `no ${signType} key for ${field} ${name}`);
    return found;
  };
  return {
    modules: (machine) => find(loaded.kmodsign, machine, 'machine', 'kmodsign'),
    swupdate: (distro) => find(loaded.swupdate, distro, 'distro', 'swupdate'),
    mender: (distro) => find(loaded.mender, distro, 'distro', 'mender'),
    optee: (machine) => find(loaded.opteesign, machine, 'machine', 'opteesign'),
    entries: () =>
      SIGN_TYPES.flatMap((signType) => [...loaded[signType].keys()].sort().map((selector) => ({ selector, signType }))),
  };
}

function listDirs(dir: string): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    throw new DaemonError('CONFIG_INVALID', `key root ${dir}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`, { cause: err });
  }
  // Operators share keys between machines with symlinked directories; the key root is their config, so follow them.
  return entries.filter((e) => e.isDirectory() || (e.isSymbolicLink() && isDirectory(path.join(dir, e.name)))).map((e) => e.name);
}

function isDirectory(file: string): boolean {
  try {
    return fs.statSync(file).isDirectory();
  } catch {
    return false;
  }
}

type KeyKind = 'rsa' | 'ec-p256' | 'ec';

function loadKey(file: string, kinds: KeyKind[]): FirmwareKey {
  const key = describeKey(loadPrivateKeyFile(file));
  const fits = kinds.some((kind) => (kind === 'rsa' ? key.type === 'rsa' : key.type === 'ec' && key.bits > 0 && (kind === 'ec' || key.curve === 'prime256v1')));
  if (!fits) throw new DaemonError('KEY_LOAD_FAILED', `private key ${file}: a ${key.description} key does not fit here (expected ${kinds.join(' or ')})`);
  return key;
}

function loadCertified(dir: string, keyName: string, certName: string, kinds: KeyKind[]): CertifiedKey {
  const key = loadKey(path.join(dir, keyName), kinds);
  const certificate = loadCertificate(path.join(dir, certName));
  if (!certificate.x509.checkPrivateKey(key.privateKey)) {
    throw new DaemonError('KEY_LOAD_FAILED', `${path.join(dir, keyName)}: private key does not match certificate ${certName}`);
  }
  return { key, certificate };
}

function loadSwupdate(dir: string): SwupdateKeys {
  const rsaFile = path.join(dir, 'rsa-private.key');
  const hasCms = fs.existsSync(path.join(dir, 'cms.cert')) || fs.existsSync(path.join(dir, 'cms-private.key'));
  const keys: SwupdateKeys = {
    rsa: fs.existsSync(rsaFile) ? loadKey(rsaFile, ['rsa']) : null,
    cms: hasCms ? loadCertified(dir, 'cms-private.key', 'cms.cert', ['rsa', 'ec']) : null,
  };
  if (!keys.rsa && !keys.cms) throw new DaemonError('KEY_LOAD_FAILED', `${dir}: neither rsa-private.key nor cms.cert + cms-private.key`);
  return keys;
}
