// Where each firmware key lives in a digsigserver key root and what may live there: one row per
// slot (signtype directory, file names, the key types that fit, the schemes its formats sign with).
// A format that needs a new kind of key adds a row here; nothing else in keys/ changes.
import type { DigestScheme } from '../../../lib/crypto/digest-schemes.js';
import { rsaBitsTooSmall } from '../../../lib/crypto/rsa-key-size.js';

/** Which key a request names: swupdate has two (rsa-private.key, cms.cert + cms-private.key). */
export const KEY_SLOTS = ['kmodsign', 'swupdate-rsa', 'swupdate-cms', 'mender', 'opteesign', 'uefisign', 'imxsign-csf', 'imxsign-img', 'fitimagesign'] as const;
export type KeySlot = (typeof KEY_SLOTS)[number];

/** The signtype directories this daemon serves; other digsigserver signtypes (tegrasign, rksign, ...) are ignored. */
export const SIGN_TYPES = ['kmodsign', 'swupdate', 'mender', 'opteesign', 'uefisign', 'imxsign', 'fitimagesign'] as const;
export type SignType = (typeof SIGN_TYPES)[number];

/**
 * Signtypes whose keys are alternatives (swupdate: RSA or CMS; any one suffices). In every other
 * signtype each slot is required: an i.MX CSF needs both its CSF and its IMG key.
 */
export const EITHER_KEY_SIGN_TYPES: readonly SignType[] = ['swupdate'];

/** i.MX HAB4: the SRK certificates beside the CSF and IMG keys, srk1.crt first; the SRK table is built from them in that order. */
export const HAB_SRK_FILES = ['srk1.crt', 'srk2.crt', 'srk3.crt', 'srk4.crt'] as const;

/** rsa: an RSA key of 2048 bits or more; ec: P-256, P-384 or P-521; ec-p256: P-256 only. */
type KeyKind = 'rsa' | 'ec' | 'ec-p256';

interface SlotLayout {
  readonly signType: SignType;
  /** What the request calls the directory name. */
  readonly selectorField: 'machine' | 'distro';
  readonly keyFile: string;
  /** The certificate beside the key (PKCS#7 / CMS signers); null for a bare key. */
  readonly certFile: string | null;
  readonly kinds: readonly KeyKind[];
  /** The schemes this slot's formats sign with, by key type: what an HSM key opens (and proves) at start-up. */
  readonly schemes: { readonly rsa: readonly DigestScheme[]; readonly ec: readonly DigestScheme[] };
  /** UNKNOWN_KEY text when the signtype directory is there but this slot's key is not. */
  readonly missing: string;
}

export const SLOTS: Readonly<Record<KeySlot, SlotLayout>> = {
  kmodsign: {
    signType: 'kmodsign',
    selectorField: 'machine',
    keyFile: 'kernel-signkey.priv',
    certFile: 'kernel-signkey.x509',
    kinds: ['rsa'],
    schemes: { rsa: ['rsa-pkcs1-sha256', 'rsa-pkcs1-sha384', 'rsa-pkcs1-sha512'], ec: [] },
    missing: 'no kmodsign key',
  },
  'swupdate-rsa': {
    signType: 'swupdate',
    selectorField: 'distro',
    keyFile: 'rsa-private.key',
    certFile: null,
    kinds: ['rsa'],
    schemes: { rsa: ['rsa-pkcs1-sha256', 'rsa-pss-sha256-max-salt'], ec: [] },
    missing: 'no RSA key (rsa-private.key) for this distro',
  },
  'swupdate-cms': {
    signType: 'swupdate',
    selectorField: 'distro',
    keyFile: 'cms-private.key',
    certFile: 'cms.cert',
    kinds: ['rsa', 'ec'],
    schemes: { rsa: ['rsa-pkcs1-sha256'], ec: ['ecdsa-sha256'] },
    missing: 'no CMS key (cms.cert + cms-private.key) for this distro',
  },
  mender: {
    signType: 'mender',
    selectorField: 'distro',
    keyFile: 'private.key',
    certFile: null,
    kinds: ['rsa', 'ec-p256'],
    schemes: { rsa: ['rsa-pkcs1-sha256'], ec: ['ecdsa-sha256'] },
    missing: 'no mender key',
  },
  opteesign: {
    signType: 'opteesign',
    selectorField: 'machine',
    keyFile: 'optee-signing-key.pem',
    certFile: null,
    kinds: ['rsa'],
    schemes: { rsa: ['rsa-pkcs1-sha256', 'rsa-pss-sha256'], ec: [] },
    missing: 'no opteesign key',
  },
  // UEFI db key: Authenticode (sbsign) and NVIDIA's detached CMS; UEFI firmware verifies RSA only.
  uefisign: {
    signType: 'uefisign',
    selectorField: 'machine',
    keyFile: 'db.key',
    certFile: 'db.crt',
    kinds: ['rsa'],
    schemes: { rsa: ['rsa-pkcs1-sha256'], ec: [] },
    missing: 'no uefisign key (db.key + db.crt)',
  },
  // NXP HAB4 (i.MX 8M): the CSF key signs the CSF commands, the IMG key the image blocks; both
  // certificates issued by one of the SRKs (srk1.crt..srk4.crt beside them). The boot ROM verifies RSA only.
  'imxsign-csf': {
    signType: 'imxsign',
    selectorField: 'machine',
    keyFile: 'csf.key',
    certFile: 'csf.crt',
    kinds: ['rsa'],
    schemes: { rsa: ['rsa-pkcs1-sha256'], ec: [] },
    missing: 'no i.MX CSF key (csf.key + csf.crt)',
  },
  'imxsign-img': {
    signType: 'imxsign',
    selectorField: 'machine',
    keyFile: 'img.key',
    certFile: 'img.crt',
    kinds: ['rsa'],
    schemes: { rsa: ['rsa-pkcs1-sha256'], ec: [] },
    missing: 'no i.MX IMG key (img.key + img.crt)',
  },
  // U-Boot FIT images: the key every signature node names by key-name-hint (digsigserver's
  // <keyname>.key, keyname `dev`). mkimage -F needs no certificate; U-Boot verifies RSA and P-256.
  fitimagesign: {
    signType: 'fitimagesign',
    selectorField: 'machine',
    keyFile: 'dev.key',
    certFile: null,
    kinds: ['rsa', 'ec-p256'],
    schemes: { rsa: ['rsa-pkcs1-sha256', 'rsa-pkcs1-sha384', 'rsa-pkcs1-sha512'], ec: ['ecdsa-sha256'] },
    missing: 'no fitimagesign key (dev.key)',
  },
};

/** The slots a signtype directory holds, in table order. */
export function slotsOf(signType: SignType): KeySlot[] {
  return KEY_SLOTS.filter((slot) => SLOTS[slot].signType === signType);
}

/** One slot of one machine or distro, as found on disk: where its key (or `.pkcs11` reference) and certificate are. */
export interface SlotPlan {
  readonly slot: KeySlot;
  readonly selector: string;
  readonly keyFile: string;
  readonly certFile: string | null;
}

/** Why a key cannot serve this slot (the wrong type or curve, or RSA under 2048 bits), or null. */
export function slotMismatch(slot: KeySlot, key: { type: 'rsa' | 'ec' | 'other'; curve?: string | null; bits?: number; description: string }): string | null {
  const kinds = SLOTS[slot].kinds;
  const fits = kinds.some((kind) => (kind === 'rsa' ? key.type === 'rsa' : key.type === 'ec' && (kind === 'ec' || key.curve === 'prime256v1')));
  if (!fits) return `a ${key.description} key does not fit here (expected ${kinds.join(' or ')})`;
  return key.type === 'rsa' ? rsaBitsTooSmall(key.bits ?? 0) : null;
}
