// POST /sign/tegra/uefi (and /sign/uefi): digsigserver's UEFI form (machine, signing_type, artifact)
// and its reply `artifact.signed`. sbsign: the PE image with its Authenticode signature attached;
// signature: NVIDIA's detached CMS over the file; attach_signature: the file padded to 2048 bytes
// with that CMS appended; detached (signerd's addition): the Authenticode PKCS#7 alone.
import crypto from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { DaemonError } from '../../../lib/errors.js';
import type { UploadRoute } from '../../../lib/server/http-service.js';
import type { FirmwareHttpLimits } from '../firmware-limits.js';
import { signAuthenticodeDigest, signPeImage } from '../formats/authenticode.js';
import { signCmsDigest } from '../formats/cms.js';
import type { DigestSigner } from '../formats/digest-signer.js';
import { authenticodeDigest, parsePe } from '../formats/pe-image.js';
import type { KeyRoot } from '../keys/key-root.js';
import { attachment, fileField, own, selectorField, SHORT_FIELD } from './form-fields.js';

type SigningType = 'sbsign' | 'signature' | 'attach_signature' | 'detached';
const SIGNING_TYPES: Record<string, SigningType> = { sbsign: 'sbsign', signature: 'signature', attach_signature: 'attach_signature', detached: 'detached' };
/** meta-tegra's attach form: `truncate --size=%2048` rounds the file up to this before the CMS is appended. */
const TEGRA_ATTACH_ALIGN_BYTES = 2048;
const REPLY_NAME = 'artifact.signed';

export function uefiRoute(keyRoot: KeyRoot, limits: FirmwareHttpLimits): UploadRoute {
  return {
    fields: { machine: SHORT_FIELD, signing_type: SHORT_FIELD, artifact: fileField(limits.uploadBytesMax) },
    async run(form, ctx) {
      const machine = selectorField(form, 'machine');
      // digsigserver lower-cases the field before its check; it has no default.
      const signingType = own(SIGNING_TYPES, (form.text.get('signing_type') ?? '').toLowerCase());
      if (!signingType) throw new DaemonError('BAD_REQUEST', 'signing_type must be sbsign, signature, attach_signature or detached');
      const artifact = form.files.get('artifact');
      if (!artifact) throw new DaemonError('BAD_REQUEST', 'artifact missing (an application/octet-stream file upload)');
      if (artifact.size === 0) throw new DaemonError('BAD_REQUEST', 'artifact is empty');
      Object.assign(ctx.fields, { machine, signingType, bytes: artifact.size });
      // Before reading the upload: an unknown machine fails at once.
      const signer = keyRoot.signer(machine, 'uefisign');
      const out = path.join(ctx.dir, REPLY_NAME);
      if (signingType === 'sbsign' || signingType === 'detached') {
        if (artifact.size > limits.signedFileBytesMax)
          throw new DaemonError('PAYLOAD_TOO_LARGE', `a PE image is signed in memory: at most ${limits.signedFileBytesMax} bytes`);
        const image = await readFile(artifact.path);
        const reply = signingType === 'sbsign' ? await signPeImage(signer, image) : await signDetached(signer, image);
        await writeFile(out, reply, { flag: 'wx', mode: 0o600 });
        return attachment(out, REPLY_NAME);
      }
      // NVIDIA's forms sign any file (kernel, dtb, initrd, extlinux.conf): hashed from disk, never held whole.
      const cms = await signCmsDigest(signer, await sha256File(artifact.path), { smimeCapabilities: true });
      if (signingType === 'signature') {
        await writeFile(out, cms, { flag: 'wx', mode: 0o600 });
      } else {
        await writeAttached(artifact.path, out, cms);
      }
      return attachment(out, REPLY_NAME);
    },
  };
}

/**
 * attach_signature's reply: the file, zeros up to the next 2048 bytes, the CMS. Created (never an
 * existing name) and written through one descriptor, as every reply is: nothing follows a link
 * that might be put in the request's directory.
 */
async function writeAttached(file: string, out: string, cms: Buffer): Promise<void> {
  const handle = await open(out, 'wx', 0o600);
  try {
    let size = 0;
    for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
      // writeFile on a handle: from where the last write ended, all of it (write() may stop short).
      await handle.writeFile(chunk);
      size += chunk.length;
    }
    const padded = Math.ceil(size / TEGRA_ATTACH_ALIGN_BYTES) * TEGRA_ATTACH_ALIGN_BYTES;
    await handle.truncate(padded);
    await handle.write(cms, 0, cms.length, padded);
  } finally {
    await handle.close();
  }
}

async function signDetached(signer: DigestSigner, image: Buffer): Promise<Buffer> {
  const layout = parsePe(image);
  if (layout.certTableBytes !== 0) throw new DaemonError('BAD_REQUEST', 'the PE image is already signed; send the unsigned image');
  return signAuthenticodeDigest(signer, authenticodeDigest(image, layout));
}

async function sha256File(file: string): Promise<Buffer> {
  const hash = crypto.createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest();
}
