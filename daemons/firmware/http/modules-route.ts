// POST /sign/modules: re-packs an uploaded module tree with every `*.ko` signed in place, as
// digsigserver does with sign-file, but entry by entry (nothing is extracted to disk). A module
// that is already signed is re-signed: its old signatures are stripped first. Returned names start
// with './' so the Yocto class's `tar -x ./lib/modules` works.
import path from 'node:path';
import { DaemonError } from '../../../lib/errors.js';
import type { UploadRoute } from '../../../lib/server/http-service.js';
import type { FirmwareHttpLimits } from '../firmware-limits.js';
import { isModuleHash, signModule, stripModuleSignatures } from '../formats/kernel-module.js';
import type { KeyRoot } from '../keys/key-root.js';
import { repackTarball, repackLimits } from '../tar/tar-repack.js';
import { attachment, fileField, selectorField, SHORT_FIELD, uploadedFile } from './form-fields.js';

export function modulesRoute(keyRoot: KeyRoot, limits: FirmwareHttpLimits): UploadRoute {
  return {
    fields: { machine: SHORT_FIELD, hashalg: SHORT_FIELD, artifact: fileField(limits.uploadBytesMax) },
    async run(form, ctx) {
      const machine = selectorField(form, 'machine');
      const hashalg = form.text.get('hashalg') ?? 'sha512';
      if (!isModuleHash(hashalg)) throw new DaemonError('BAD_REQUEST', 'hashalg must be sha256, sha384 or sha512');
      const upload = uploadedFile(form, 'artifact');
      Object.assign(ctx.fields, { machine, hashalg });
      // Before any unpacking: an unknown machine fails at once.
      keyRoot.signer(machine, 'kmodsign');
      const out = path.join(ctx.dir, 'signed-artifact.tar.gz');
      const counts = await repackTarball(upload, ctx.dir, out, repackLimits(limits), async (tar) => {
        let signed = 0;
        let resigned = 0;
        for await (const entry of tar.entries()) {
          if (entry.name === '') continue;
          // sign-file's rule: names ending in .ko exactly (compressed .ko.xz / .ko.zst are left alone).
          if (entry.type === 'file' && entry.name.endsWith('.ko')) {
            const { unsigned, stripped } = stripModuleSignatures(await tar.content(entry));
            // The module's path names the signature in the transparency log.
            await tar.replace(entry, await signModule(keyRoot.signer(machine, 'kmodsign', entry.name), hashalg, unsigned));
            signed++;
            if (stripped > 0) resigned++;
          } else {
            await tar.copy(entry);
          }
        }
        return { signed, resigned };
      });
      Object.assign(ctx.fields, counts);
      return attachment(out, 'signed-artifact.tar.gz');
    },
  };
}
