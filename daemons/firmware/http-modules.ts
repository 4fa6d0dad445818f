// /sign/modules: re-packs an uploaded module tree with every `*.ko` signed in place, as
// digsigserver does with sign-file, but entry by entry (nothing is extracted to disk). A module
// that is already signed is re-signed: its old signatures are stripped first. Returned names start
// with './' so the Yocto class's `tar -x ./lib/modules` works.
import { stripModuleSignatures } from './module-signature.js';
import { repackTarball, type RepackLimits } from './tar-repack.js';

/** Signs one unsigned module's bytes; resolves to the module with signature, trailer and magic appended. */
export type ModuleSigner = (module: Buffer) => Promise<Buffer>;

/** Writes the signed tarball to `outPath`; resolves to how many modules were signed, and how many of them had been signed before. */
export function signModuleTree(
  upload: string,
  workDir: string,
  outPath: string,
  sign: ModuleSigner,
  limits: RepackLimits,
): Promise<{ signed: number; resigned: number }> {
  return repackTarball(upload, workDir, outPath, limits, async (tar) => {
    let signed = 0;
    let resigned = 0;
    for await (const entry of tar.entries()) {
      if (entry.name === '') continue;
      // sign-file's rule: names ending in .ko exactly (compressed .ko.xz / .ko.zst are left alone).
      if (entry.type === 'file' && entry.name.endsWith('.ko')) {
        const { unsigned, stripped } = stripModuleSignatures(await tar.content(entry));
        await tar.replace(entry, await sign(unsigned));
        signed++;
        if (stripped > 0) resigned++;
      } else {
        await tar.copy(entry);
      }
    }
    return { signed, resigned };
  });
}
