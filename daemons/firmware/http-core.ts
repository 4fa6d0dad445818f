// Adapts the firmware signing core (firmware-signer.ts: key lookup by validated name, one function
// per format, each verifying what it made) to the small interface the HTTP routes consume.
import { DaemonError } from '../../lib/errors.js';
import { isSignedModule, type FirmwareSigner } from './firmware-signer.js';
import type { FirmwareHttpCore } from './http-route.js';

export function firmwareHttpCore(signer: FirmwareSigner): FirmwareHttpCore {
  return {
    requireKey: (slot, selector) => void signer.keyInfo(selector, slot),
    signModule(machine, hashalg, module) {
      // Callers strip old signatures first (stripModuleSignatures); a module that still carries one
      // would get a second one appended, as sign-file does, so it is refused.
      if (isSignedModule(module)) throw new DaemonError('BAD_REQUEST', 'a module in the artifact is already signed');
      return signer.signedModule(machine, hashalg, module);
    },
    signSwDescription: (distro, method, swDescription) => signer.swupdateSignature(distro, method, swDescription),
    signMenderManifest: (distro, manifest) => signer.menderSignature(distro, manifest),
    signTrustedApp: (machine, algo, ta) => signer.opteeTa(machine, { uuid: ta.uuid, version: ta.version, elf: ta.image, algo }),
  };
}
