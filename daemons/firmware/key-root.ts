// The key root, laid out as digsigserver's: <root>/<machine or distro>/<signtype>/<files>. Every key
// is read, parsed and cross-checked once at start-up; requests only look keys up by validated name.
import type { KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { DaemonError } from '../../lib/errors.js';
import { loadPrivateKeyFile } from '../../lib/keys/key-file.js';
import { describeKey, describePublicKey, type FirmwareKey } from './firmware-key.js';
import { loadCertificate, type FirmwareCertificate } from './certificate.js';
import type { KeySlot } from './firmware-signer.js';
import {
  HSM_REFERENCE_SUFFIX,
  openHsmFirmwareKey,
  readHsmReference,
  type FirmwareHsmScheme,
  type HsmFirmwareDeps,
  type HsmFirmwareKey,
} from './hsm-firmware-key.js';

export type { FirmwareKey } from './firmware-key.js';
export type { FirmwareCertificate } from './certificate.js';
export type { HsmFirmwareKey } from './hsm-firmware-key.js';

/** A slot's key: in memory (FirmwareKey, from a PEM file) or in an HSM (HsmFirmwareKey). */
export type HeldKey = FirmwareKey | HsmFirmwareKey;

/** The signtypes this daemon serves; other digsigserver signtypes (tegrasign, imxsign, ...) are ignored. */
const SIGN_TYPES = ['kmodsign', 'swupdate', 'mender', 'opteesign'] as const;
type SignType = (typeof SIGN_TYPES)[number];

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
  /**
   * One slot's key wherever it is held (file or HSM): what the signing facade uses. The lookups above
   * return in-memory keys only and throw INTERNAL for an HSM-held one.
   */
  held(selector: string, slot: KeySlot): HeldSlotKey;
  /** Releases HSM sessions (nothing for a file-only root). */
  close(): Promise<void>;
}

const SELECTOR = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/;

/** machine / distro names: no path separators, no leading dot (so no `.` or `..`), at most 64 characters. */
export function validateSelector(name: string, field: string): string {
  if (!SELECTOR.test(name)) throw new DaemonError('BAD_REQUEST', `${field} must match [A-Za-z0-9_][A-Za-z0-9._-]{0,63}`);
  return name;
}

/** One slot's key as loaded: held in memory (PEM file) or in an HSM (`.pkcs11` reference), with its certificate. */
export interface HeldSlotKey {
  readonly key: HeldKey;
  readonly certificate: FirmwareCertificate | null;
}

/** Where a slot's key file (or its `.pkcs11` reference) is, and what fits there. */
interface SlotPlan {
  slot: KeySlot;
  selector: string;
  keyFile: string;
  certFile: string | null;
  kinds: KeyKind[];
}

type Loaded = Map<KeySlot, Map<string, HeldSlotKey>>;

/** The slots each signtype directory fills, and the other way round. */
const SLOTS_OF: Record<SignType, KeySlot[]> = {
  kmodsign: ['kmodsign'],
  swupdate: ['swupdate-rsa', 'swupdate-cms'],
  mender: ['mender'],
  opteesign: ['opteesign'],
};
const SIGN_TYPE_OF: Record<KeySlot, SignType> = {
  kmodsign: 'kmodsign',
  'swupdate-rsa': 'swupdate',
  'swupdate-cms': 'swupdate',
  mender: 'mender',
  opteesign: 'opteesign',
};

/** Loads a key root of PEM files only (synchronous); one holding `.pkcs11` references needs openKeyRoot. */
export function loadKeyRoot(root: string, log?: Logger): KeyRoot {
  const loaded: Loaded = new Map();
  for (const plan of planKeyRoot(root, log)) {
    if (fs.existsSync(plan.keyFile + HSM_REFERENCE_SUFFIX)) {
      throw new DaemonError(
        'CONFIG_INVALID',
        `${plan.keyFile}${HSM_REFERENCE_SUFFIX}: HSM references need the daemon's openKeyRoot (this loader reads files only)`,
      );
    }
    put(loaded, plan, loadFileSlot(plan));
  }
  return keyRootOf(loaded, async () => undefined);
}

/**
 * Loads a key root whose keys may be PEM files or, in their place, `<key file>.pkcs11` references to
 * HSM keys (opened once here: login, key lookup, a verified test signature per scheme). close() releases the HSM sessions.
 */
export async function openKeyRoot(root: string, deps: HsmFirmwareDeps): Promise<KeyRoot> {
  const loaded: Loaded = new Map();
  const hsmKeys: HsmFirmwareKey[] = [];
  const close = async (): Promise<void> => {
    await Promise.all(hsmKeys.splice(0).map((key) => key.close()));
  };
  try {
    for (const plan of planKeyRoot(root, deps.log)) {
      const reference = plan.keyFile + HSM_REFERENCE_SUFFIX;
      if (!fs.existsSync(reference)) {
        put(loaded, plan, loadFileSlot(plan));
        continue;
      }
      if (fs.existsSync(plan.keyFile))
        throw new DaemonError('CONFIG_INVALID', `${plan.keyFile}: both the key file and ${path.basename(reference)} exist; keep one`);
      const key = await openHsmFirmwareKey(readHsmReference(reference), (publicKey) => hsmSchemes(plan, publicKey), deps);
      hsmKeys.push(key);
      const certificate = plan.certFile ? loadCertificate(plan.certFile) : null;
      if (certificate && !certificate.x509.publicKey.export({ type: 'spki', format: 'der' }).equals(key.publicKey.export({ type: 'spki', format: 'der' }))) {
        throw new DaemonError('KEY_LOAD_FAILED', `${reference}: the HSM key does not match certificate ${path.basename(plan.certFile!)}`);
      }
      deps.log?.info({ slot: plan.slot, selector: plan.selector, key: key.uri, keyId: key.keyId }, 'firmware key held in an HSM');
      put(loaded, plan, { key, certificate });
    }
  } catch (err) {
    await close();
    throw err;
  }
  return keyRootOf(loaded, close);
}

/** True when the key's private half is in an HSM (sign through its signDigest), false for an in-memory key. */
export function isHsmHeld(key: HeldKey): key is HsmFirmwareKey {
  return 'holder' in key && key.holder === 'hsm';
}

function keyRootOf(loaded: Loaded, close: () => Promise<void>): KeyRoot {
  const field = (slot: KeySlot): string => (slot === 'kmodsign' || slot === 'opteesign' ? 'machine' : 'distro');
  const selectorsOf = (signType: SignType): Set<string> => new Set(SLOTS_OF[signType].flatMap((slot) => [...(loaded.get(slot)?.keys() ?? [])]));
  const requireSignType = (selector: string, slot: KeySlot): void => {
    const signType = SIGN_TYPE_OF[slot];
    if (!selectorsOf(signType).has(validateSelector(selector, field(slot))))
      throw new DaemonError('UNKNOWN_KEY', `no ${signType} key for ${field(slot)} ${selector}`);
  };
  const held = (selector: string, slot: KeySlot): HeldSlotKey => {
    requireSignType(selector, slot);
    const found = loaded.get(slot)?.get(selector);
    if (found === undefined) throw new DaemonError('UNKNOWN_KEY', MISSING_SLOT[slot]);
    return found;
  };
  // The lookups below hand out in-memory keys; an HSM-held one is reached through held() only.
  const inMemory = (entry: HeldSlotKey, slot: KeySlot, selector: string): FirmwareKey => {
    if (isHsmHeld(entry.key)) throw new DaemonError('INTERNAL', `the ${slot} key of ${selector} is held in an HSM; sign through the firmware signer`);
    return entry.key;
  };
  const certified = (entry: HeldSlotKey, slot: KeySlot, selector: string): CertifiedKey => {
    if (!entry.certificate) throw new DaemonError('INTERNAL', `the ${slot} key of ${selector} has no certificate`);
    return { key: inMemory(entry, slot, selector), certificate: entry.certificate };
  };
  return {
    modules: (machine) => certified(held(machine, 'kmodsign'), 'kmodsign', machine),
    swupdate: (distro) => {
      requireSignType(distro, 'swupdate-rsa');
      const rsa = loaded.get('swupdate-rsa')?.get(distro);
      const cms = loaded.get('swupdate-cms')?.get(distro);
      return { rsa: rsa ? inMemory(rsa, 'swupdate-rsa', distro) : null, cms: cms ? certified(cms, 'swupdate-cms', distro) : null };
    },
    mender: (distro) => inMemory(held(distro, 'mender'), 'mender', distro),
    optee: (machine) => inMemory(held(machine, 'opteesign'), 'opteesign', machine),
    entries: () => SIGN_TYPES.flatMap((signType) => [...selectorsOf(signType)].sort().map((selector) => ({ selector, signType }))),
    held,
    close,
  };
}

const MISSING_SLOT: Record<KeySlot, string> = {
  kmodsign: 'no kmodsign key',
  'swupdate-rsa': 'no RSA key (rsa-private.key) for this distro',
  'swupdate-cms': 'no CMS key (cms.cert + cms-private.key) for this distro',
  mender: 'no mender key',
  opteesign: 'no opteesign key',
};

function put(loaded: Loaded, plan: SlotPlan, entry: HeldSlotKey): void {
  const slots = loaded.get(plan.slot) ?? new Map<string, HeldSlotKey>();
  slots.set(plan.selector, entry);
  loaded.set(plan.slot, slots);
}

/** Walks the key root: which key (file or `.pkcs11` reference) each present slot needs. */
function planKeyRoot(root: string, log?: Logger): SlotPlan[] {
  const plans: SlotPlan[] = [];
  for (const selector of listDirs(root)) {
    if (!SELECTOR.test(selector)) {
      log?.warn({ selector: selector.slice(0, 80) }, 'key root: directory name is not a valid machine/distro name; ignored');
      continue;
    }
    const dir = path.join(root, selector);
    const present = new Set(listDirs(dir));
    const at = (signType: string, file: string): string => path.join(dir, signType, file);
    if (present.has('kmodsign'))
      plans.push({
        slot: 'kmodsign',
        selector,
        keyFile: at('kmodsign', 'kernel-signkey.priv'),
        certFile: at('kmodsign', 'kernel-signkey.x509'),
        kinds: ['rsa'],
      });
    if (present.has('swupdate')) plans.push(...planSwupdate(selector, path.join(dir, 'swupdate')));
    if (present.has('mender')) plans.push({ slot: 'mender', selector, keyFile: at('mender', 'private.key'), certFile: null, kinds: ['rsa', 'ec-p256'] });
    if (present.has('opteesign'))
      plans.push({ slot: 'opteesign', selector, keyFile: at('opteesign', 'optee-signing-key.pem'), certFile: null, kinds: ['rsa'] });
  }
  return plans;
}

function planSwupdate(selector: string, dir: string): SlotPlan[] {
  const exists = (name: string): boolean => fs.existsSync(path.join(dir, name));
  const plans: SlotPlan[] = [];
  if (exists('rsa-private.key') || exists('rsa-private.key' + HSM_REFERENCE_SUFFIX)) {
    plans.push({ slot: 'swupdate-rsa', selector, keyFile: path.join(dir, 'rsa-private.key'), certFile: null, kinds: ['rsa'] });
  }
  if (exists('cms.cert') || exists('cms-private.key') || exists('cms-private.key' + HSM_REFERENCE_SUFFIX)) {
    plans.push({ slot: 'swupdate-cms', selector, keyFile: path.join(dir, 'cms-private.key'), certFile: path.join(dir, 'cms.cert'), kinds: ['rsa', 'ec'] });
  }
  if (plans.length === 0) throw new DaemonError('KEY_LOAD_FAILED', `${dir}: neither rsa-private.key nor cms.cert + cms-private.key`);
  return plans;
}

function loadFileSlot(plan: SlotPlan): HeldSlotKey {
  return plan.certFile ? loadCertified(plan.keyFile, plan.certFile, plan.kinds) : { key: loadKey(plan.keyFile, plan.kinds), certificate: null };
}

/** The HSM schemes a slot signs with, for the key the token holds; a key that does not fit is refused here. */
function hsmSchemes(plan: SlotPlan, publicKey: KeyObject): FirmwareHsmScheme[] {
  const key = describePublicKey(publicKey);
  const where = `${plan.keyFile}${HSM_REFERENCE_SUFFIX}`;
  if (!fits(key, plan.kinds))
    throw new DaemonError('KEY_LOAD_FAILED', `${where}: a ${key.description} key does not fit here (expected ${plan.kinds.join(' or ')})`);
  // ECDSA through the HSM is P-256 with SHA-256 (Mender, CMS); other curves stay in files.
  if (key.type === 'ec' && key.curve !== 'prime256v1')
    throw new DaemonError('KEY_LOAD_FAILED', `${where}: HSM-held EC keys must be P-256 (got ${key.description}); keep this key in a file`);
  if (key.type === 'ec') return ['ecdsa-p256-sha256'];
  switch (plan.slot) {
    case 'kmodsign':
      return ['rsa-pkcs1-sha256', 'rsa-pkcs1-sha384', 'rsa-pkcs1-sha512'];
    case 'swupdate-rsa':
      return ['rsa-pkcs1-sha256', 'rsa-pss-sha256-max-salt'];
    case 'opteesign':
      return ['rsa-pkcs1-sha256', 'rsa-pss-sha256'];
    case 'swupdate-cms':
    case 'mender':
      return ['rsa-pkcs1-sha256'];
  }
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

function fits(key: Pick<FirmwareKey, 'type' | 'bits' | 'curve'>, kinds: KeyKind[]): boolean {
  return kinds.some((kind) => (kind === 'rsa' ? key.type === 'rsa' : key.type === 'ec' && key.bits > 0 && (kind === 'ec' || key.curve === 'prime256v1')));
}

function loadKey(file: string, kinds: KeyKind[]): FirmwareKey {
  const key = describeKey(loadPrivateKeyFile(file));
  if (!fits(key, kinds))
    throw new DaemonError('KEY_LOAD_FAILED', `private key ${file}: a ${key.description} key does not fit here (expected ${kinds.join(' or ')})`);
  return key;
}

function loadCertified(keyFile: string, certFile: string, kinds: KeyKind[]): HeldSlotKey {
  const key = loadKey(keyFile, kinds);
  const certificate = loadCertificate(certFile);
  if (!certificate.x509.checkPrivateKey(key.privateKey)) {
    throw new DaemonError('KEY_LOAD_FAILED', `${keyFile}: private key does not match certificate ${path.basename(certFile)}`);
  }
  return { key, certificate };
}
