// POST /sign/fitimage: digsigserver's U-Boot FIT form (machine, keyname, algo, comment, artifact) and
// its reply `fitImage.signed`: the FIT with every hash and signature node filled in, the bytes
// `mkimage -F -k <machine>/fitimagesign [-o algo] [-c comment]` writes, with signer-name signerd.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DaemonError } from '../../../lib/errors.js';
import { packageVersion } from '../../../lib/package-version.js';
import type { UploadRoute } from '../../../lib/server/serve-http.js';
import type { FirmwareHttpLimits } from '../firmware-limits.js';
import { signFitImage } from '../formats/fit-image.js';
import type { KeyRoot } from '../keys/key-root.js';
import { attachment, fileField, selectorField, SHORT_FIELD } from './form-fields.js';

const REPLY_NAME = 'fitImage.signed';
/** digsigserver's defaults: the i.MX machine directory, the `dev` key. */
const DEFAULT_MACHINE = 'imx';
const DEFAULT_KEY_NAME = 'dev';
/** The only key name a machine's fitimagesign directory holds (keys/key-slots.ts). */
const SERVED_KEY_NAMES = new Set([DEFAULT_KEY_NAME]);
/** mkimage -c takes any text; a comment is one short line here. */
const COMMENT = /^[\x20-\x7e]{0,255}$/;

export function fitImageRoute(keyRoot: KeyRoot, limits: FirmwareHttpLimits): UploadRoute {
  return {
    fields: {
      machine: SHORT_FIELD,
      keyname: SHORT_FIELD,
      algo: SHORT_FIELD,
      comment: SHORT_FIELD,
      mark_required: SHORT_FIELD,
      external_data_offset: SHORT_FIELD,
      backend: SHORT_FIELD,
      artifact: fileField(limits.uploadBytesMax),
      dtb: fileField(limits.uploadBytesMax),
    },
    async run(form, ctx) {
      const machine = form.text.has('machine') ? selectorField(form, 'machine') : DEFAULT_MACHINE;
      const keyName = form.text.get('keyname') || DEFAULT_KEY_NAME;
      const backend = form.text.get('backend') || 'ssl';
      if (backend === 'pkcs11')
        throw new DaemonError('NOT_IMPLEMENTED', 'backend=pkcs11: put the key in the HSM on the server (dev.key.pkcs11), as docs/pkcs11.md says');
      if (backend !== 'ssl') throw new DaemonError('BAD_REQUEST', 'backend must be ssl');
      if (form.files.has('dtb'))
        throw new DaemonError('NOT_IMPLEMENTED', 'writing the public key into a U-Boot device tree (dtb, mkimage -K) is not supported');
      if (form.text.get('external_data_offset')) throw new DaemonError('NOT_IMPLEMENTED', 'external data (external_data_offset, mkimage -p) is not supported');
      const algo = form.text.get('algo') || null;
      const comment = form.text.get('comment') ?? null;
      if (comment !== null && !COMMENT.test(comment)) throw new DaemonError('BAD_REQUEST', 'comment must be at most 255 printable ASCII characters');
      const artifact = form.files.get('artifact');
      if (!artifact) throw new DaemonError('BAD_REQUEST', 'artifact missing (an application/octet-stream file upload)');
      if (artifact.size > limits.signedFileBytesMax)
        throw new DaemonError('PAYLOAD_TOO_LARGE', `a FIT image is signed in memory: at most ${limits.signedFileBytesMax} bytes`);
      Object.assign(ctx.fields, { machine, keyName, bytes: artifact.size });
      // Before reading the upload: an unknown machine fails at once.
      const signer = keyRoot.signer(machine, 'fitimagesign', 'fitImage');
      const { image, signatures } = await signFitImage(
        await readFile(artifact.path),
        (hint, node) => {
          if (hint !== keyName || !SERVED_KEY_NAMES.has(hint)) {
            throw new DaemonError(
              'UNKNOWN_KEY',
              `${node} names key ${hint}; this request signs with ${keyName}, and a machine's fitimagesign key is ${DEFAULT_KEY_NAME}`,
            );
          }
          return signer;
        },
        { algo, comment, timestamp: Math.floor(Date.now() / 1000), signerName: 'signerd', signerVersion: packageVersion() },
      );
      ctx.fields['signed'] = signatures.length;
      const out = path.join(ctx.dir, REPLY_NAME);
      await writeFile(out, image, { flag: 'wx', mode: 0o600 });
      return attachment(out, REPLY_NAME);
    },
  };
}
