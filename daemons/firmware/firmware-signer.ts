// The firmware signing core both front ends (line protocol, digsigserver HTTP) call: key lookup by
// validated machine/distro name, one function per format, every signature verified before it is
// returned. Stable API: F2's HTTP adapter codes against these exports (see NOTES.md).
import crypto from 'node:crypto';
import { DaemonError } from '../../lib/errors.js';
import {
  hsmCmsDigest,
  hsmMenderDigest,
  hsmMenderManifest,
  hsmModuleDigest,
  hsmOpteeDigest,
  hsmOpteeTa,
  hsmSignedModule,
  hsmSwupdateRsa,
} from './hsm-firmware-signing.js';
import { isHsmHeld, type FirmwareCertificate, type FirmwareKey, type HeldSlotKey, type KeyRoot } from './key-root.js';
import { signMenderDigest, signMenderManifest } from './mender-signature.js';
import { signModuleDigest, signModuleFile, type ModuleHash } from './module-signature.js';
import { buildOpteeTa, signOpteeDigest, type OpteeAlgorithm, type OpteeTaInput } from './optee-signature.js';
import { checkSwDescriptionDigest, signSwupdateDigest, type SwupdateMethod } from './swupdate-signature.js';

export { MODULE_HASHES, isSignedModule, type ModuleHash } from './module-signature.js';
export { isSwupdateMethod, type SwupdateMethod } from './swupdate-signature.js';
export { type OpteeAlgorithm } from './optee-signature.js';

export { loadKeyRoot, validateSelector, type FirmwareKey, type KeyRoot } from './key-root.js';
export { openKeyRoot } from './key-root.js';

/** Which key an info request is about: swupdate has two (rsa-private.key, cms.cert + cms-private.key). */
export const KEY_SLOTS = ['kmodsign', 'swupdate-rsa', 'swupdate-cms', 'mender', 'opteesign'] as const;
export type KeySlot = (typeof KEY_SLOTS)[number];

interface KeyInfo {
  type: FirmwareKey['type'];
  bits: number;
  curve: string | null;
  sigBytes: number;
  keyId: string;
  /** DER of the signing certificate, for slots that have one (kmodsign, swupdate-cms). */
  certificateDer: Buffer | null;
  /** DER SubjectPublicKeyInfo. */
  publicKeyDer: Buffer;
}

export interface FirmwareSigner {
  /** PKCS#7 blob for a module digest (sign-file -d output). */
  moduleSignature(machine: string, hash: ModuleHash, digest: Buffer): Promise<Buffer>;
  /** The whole module with signature, trailer and magic appended (sign-file output). */
  signedModule(machine: string, hash: ModuleHash, module: Buffer): Promise<Buffer>;
  /** sw-description.sig from the sw-description bytes. */
  swupdateSignature(distro: string, method: SwupdateMethod, swDescription: Buffer): Promise<Buffer>;
  /** sw-description.sig from SHA-256(sw-description). */
  swupdateSignatureOfDigest(distro: string, method: SwupdateMethod, sha256: Buffer): Promise<Buffer>;
  /** manifest.sig contents (base64 text) from the manifest bytes (checked for shape). */
  menderSignature(distro: string, manifest: Buffer): Promise<string>;
  /** manifest.sig contents from SHA-256(manifest); blind. */
  menderSignatureOfDigest(distro: string, sha256: Buffer): Promise<string>;
  /** Bare TA signature over the 32-byte TA digest (sign_encrypt.py stitch input). */
  opteeSignature(machine: string, algo: OpteeAlgorithm, digest: Buffer): Promise<Buffer>;
  /** Complete signed <uuid>.ta. */
  opteeTa(machine: string, input: OpteeTaInput): Promise<Buffer>;
  keyInfo(selector: string, slot: KeySlot): KeyInfo;
}

export function createFirmwareSigner(root: KeyRoot): FirmwareSigner {
  // Each format goes to the in-memory signer or, for a key held in an HSM, to its asynchronous twin.
  const certifiedOf = (selector: string, slot: 'kmodsign' | 'swupdate-cms'): { held: HeldSlotKey; certificate: FirmwareCertificate } => {
    const held = root.held(selector, slot);
    if (!held.certificate) throw new DaemonError('INTERNAL', `${slot} key without a certificate`);
    return { held, certificate: held.certificate };
  };
  // Every swupdate signature, file or digest, PEM or HSM key, passes the same check first.
  const swupdate = async (distro: string, method: SwupdateMethod, sha256: Buffer): Promise<Buffer> => {
    checkSwDescriptionDigest(sha256);
    const held = root.held(distro, method === 'CMS' ? 'swupdate-cms' : 'swupdate-rsa');
    if (!isHsmHeld(held.key)) return signSwupdateDigest(root.swupdate(distro), method, sha256);
    if (method === 'CMS') return hsmCmsDigest(held.key, certifiedOf(distro, 'swupdate-cms').certificate, sha256);
    return hsmSwupdateRsa(held.key, method, sha256);
  };
  return {
    moduleSignature: async (machine, hash, digest) => {
      const { held, certificate } = certifiedOf(machine, 'kmodsign');
      const checked = checkedLength(digest, hash);
      return isHsmHeld(held.key) ? hsmModuleDigest(held.key, certificate, hash, checked) : signModuleDigest(root.modules(machine), hash, checked);
    },
    signedModule: async (machine, hash, module) => {
      const { held, certificate } = certifiedOf(machine, 'kmodsign');
      return isHsmHeld(held.key) ? hsmSignedModule(held.key, certificate, hash, module) : signModuleFile(root.modules(machine), hash, module);
    },
    swupdateSignature: async (distro, method, swDescription) => swupdate(distro, method, crypto.createHash('sha256').update(swDescription).digest()),
    swupdateSignatureOfDigest: async (distro, method, sha256) => swupdate(distro, method, sha256),
    menderSignature: async (distro, manifest) => {
      const key = root.held(distro, 'mender').key;
      return isHsmHeld(key) ? hsmMenderManifest(key, manifest) : signMenderManifest(key, manifest);
    },
    menderSignatureOfDigest: async (distro, sha256) => {
      const key = root.held(distro, 'mender').key;
      return isHsmHeld(key) ? hsmMenderDigest(key, sha256) : signMenderDigest(key, sha256);
    },
    opteeSignature: async (machine, algo, digest) => {
      const key = root.held(machine, 'opteesign').key;
      return isHsmHeld(key) ? hsmOpteeDigest(key, algo, digest) : signOpteeDigest(key, algo, digest);
    },
    opteeTa: async (machine, input) => {
      const key = root.held(machine, 'opteesign').key;
      return isHsmHeld(key) ? hsmOpteeTa(key, input) : buildOpteeTa(key, input);
    },
    keyInfo: (selector, slot) => describe(root.held(selector, slot)),
  };
}

const HASH_BYTES: Record<ModuleHash, number> = { sha256: 32, sha384: 48, sha512: 64 };

function checkedLength(digest: Buffer, hash: ModuleHash): Buffer {
  if (digest.length !== HASH_BYTES[hash]) throw new DaemonError('BAD_REQUEST', `a ${hash} digest is ${HASH_BYTES[hash]} bytes, got ${digest.length}`);
  return digest;
}

function describe({ key, certificate }: HeldSlotKey): KeyInfo {
  return {
    type: key.type,
    bits: key.bits,
    curve: key.curve,
    sigBytes: key.sigBytes,
    keyId: key.keyId,
    certificateDer: certificate ? certificate.der : null,
    publicKeyDer: key.publicKey.export({ type: 'spki', format: 'der' }),
  };
}
