// The firmware signing core both front ends (line protocol, digsigserver HTTP) call: key lookup by
// validated machine/distro name, one function per format, every signature verified before it is
// returned. Stable API: F2's HTTP adapter codes against these exports (see NOTES.md).
import { DaemonError } from '../../lib/errors.js';
import type { CertifiedKey, FirmwareKey, KeyRoot } from './key-root.js';
import { signMenderDigest, signMenderManifest } from './mender-signature.js';
import { signModuleDigest, signModuleFile, type ModuleHash } from './module-signature.js';
import { buildOpteeTa, signOpteeDigest, type OpteeAlgorithm, type OpteeTaInput } from './optee-signature.js';
import { signSwupdate, signSwupdateDigest, type SwupdateMethod } from './swupdate-signature.js';

export { MODULE_HASHES, isSignedModule, moduleSignatureTrailer, MODULE_SIG_MAGIC, type ModuleHash } from './module-signature.js';
export { SWUPDATE_METHODS, isSwupdateMethod, type SwupdateMethod } from './swupdate-signature.js';
export { OPTEE_ALGO_VALUE, opteeShdr, type OpteeAlgorithm, type OpteeTaInput } from './optee-signature.js';
export { checkMenderManifest } from './mender-signature.js';
export { loadKeyRoot, validateSelector, SIGN_TYPES, type CertifiedKey, type FirmwareKey, type KeyRoot, type SignType, type SwupdateKeys } from './key-root.js';

/** Which key an info request is about: swupdate has two (rsa-private.key, cms.cert + cms-private.key). */
export const KEY_SLOTS = ['kmodsign', 'swupdate-rsa', 'swupdate-cms', 'mender', 'opteesign'] as const;
export type KeySlot = (typeof KEY_SLOTS)[number];

export interface KeyInfo {
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
  return {
    moduleSignature: async (machine, hash, digest) => signModuleDigest(root.modules(machine), hash, checkedLength(digest, hash)),
    signedModule: (machine, hash, module) => signModuleFile(root.modules(machine), hash, module),
    swupdateSignature: (distro, method, swDescription) => signSwupdate(root.swupdate(distro), method, swDescription),
    swupdateSignatureOfDigest: (distro, method, sha256) => signSwupdateDigest(root.swupdate(distro), method, sha256),
    menderSignature: (distro, manifest) => signMenderManifest(root.mender(distro), manifest),
    menderSignatureOfDigest: async (distro, sha256) => signMenderDigest(root.mender(distro), sha256),
    opteeSignature: async (machine, algo, digest) => signOpteeDigest(root.optee(machine), algo, digest),
    opteeTa: async (machine, input) => buildOpteeTa(root.optee(machine), input),
    keyInfo: (selector, slot) => describe(slotKey(root, selector, slot)),
  };
}

const HASH_BYTES: Record<ModuleHash, number> = { sha256: 32, sha384: 48, sha512: 64 };

function checkedLength(digest: Buffer, hash: ModuleHash): Buffer {
  if (digest.length !== HASH_BYTES[hash]) throw new DaemonError('BAD_REQUEST', `a ${hash} digest is ${HASH_BYTES[hash]} bytes, got ${digest.length}`);
  return digest;
}

function slotKey(root: KeyRoot, selector: string, slot: KeySlot): { key: FirmwareKey; cert: CertifiedKey['certificate'] | null } {
  switch (slot) {
    case 'kmodsign': {
      const certified = root.modules(selector);
      return { key: certified.key, cert: certified.certificate };
    }
    case 'swupdate-rsa': {
      const rsa = root.swupdate(selector).rsa;
      if (!rsa) throw new DaemonError('UNKNOWN_KEY', `no swupdate RSA key for ${selector}`);
      return { key: rsa, cert: null };
    }
    case 'swupdate-cms': {
      const cms = root.swupdate(selector).cms;
      if (!cms) throw new DaemonError('UNKNOWN_KEY', `no swupdate CMS key for ${selector}`);
      return { key: cms.key, cert: cms.certificate };
    }
    case 'mender':
      return { key: root.mender(selector), cert: null };
    case 'opteesign':
      return { key: root.optee(selector), cert: null };
  }
}

function describe({ key, cert }: { key: FirmwareKey; cert: CertifiedKey['certificate'] | null }): KeyInfo {
  return {
    type: key.type,
    bits: key.bits,
    curve: key.curve,
    sigBytes: key.sigBytes,
    keyId: key.keyId,
    certificateDer: cert ? cert.der : null,
    publicKeyDer: key.publicKey.export({ type: 'spki', format: 'der' }),
  };
}
