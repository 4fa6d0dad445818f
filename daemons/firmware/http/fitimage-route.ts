// POST /sign/fitimage: digsigserver's U-Boot FIT form (machine, keyname, algo, comment, mark_required,
// artifact, dtb) and its reply: `fitImage.signed`, the FIT with every hash and signature node filled
// in as `mkimage -F -k <machine>/fitimagesign [-o algo] [-c comment]` writes it (signer-name signerd);
// with a dtb, `signed-fitImage.tar.gz` holding that and the dtb with the public key (`-K dtb [-r]`).
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DaemonError } from '../../../lib/errors.js';
import { packageVersion } from '../../../lib/package-version.js';
import type { UploadRoute } from '../../../lib/server/http-service.js';
import type { FirmwareHttpLimits } from '../firmware-limits.js';
import { signFitImage } from '../formats/fit-image.js';
import type { KeyRoot } from '../keys/key-root.js';
import { gzippedTar } from '../tar/tar-writer.js';
import { attachment, fileField, selectorField, SHORT_FIELD } from './form-fields.js';

const REPLY_NAME = 'fitImage.signed';
const TARBALL_NAME = 'signed-fitImage.tar.gz';
/** U-Boot's control device tree is tens of KiB. */
const DTB_BYTES_MAX = 1024 * 1024;
/** The dtb keeps its upload name in the tarball; it must be a plain file name. */
const DTB_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
/** digsigserver's defaults: the i.MX machine directory, the `dev` key. */
const DEFAULT_MACHINE = 'imx';
const DEFAULT_KEY_NAME = 'dev';
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
      dtb: fileField(DTB_BYTES_MAX),
    },
    async run(form, ctx) {
      const machine = form.text.has('machine') ? selectorField(form, 'machine') : DEFAULT_MACHINE;
      const keyName = form.text.get('keyname') || DEFAULT_KEY_NAME;
      const backend = form.text.get('backend') || 'ssl';
      if (backend === 'pkcs11')
        throw new DaemonError('NOT_IMPLEMENTED', 'backend=pkcs11: put the key in the HSM on the server (dev.key.pkcs11), as docs/pkcs11.md says');
      if (backend !== 'ssl') throw new DaemonError('BAD_REQUEST', 'backend must be ssl');
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
      const dtb = form.files.get('dtb');
      if (dtb && (dtb.filename === REPLY_NAME || !DTB_NAME.test(dtb.filename))) {
        throw new DaemonError('BAD_REQUEST', `the dtb's file name must match ${DTB_NAME.source} and differ from ${REPLY_NAME}`);
      }
      const { image, signatures, keyDestination } = await signFitImage(
        await readFile(artifact.path),
        (hint, node) => {
          // A machine's fitimagesign directory holds one key, dev.key (keys/key-slots.ts).
          if (hint !== keyName || keyName !== DEFAULT_KEY_NAME) {
            throw new DaemonError(
              'UNKNOWN_KEY',
              `${node} names key ${hint}; this request signs with ${keyName}, and a machine's fitimagesign key is ${DEFAULT_KEY_NAME}`,
            );
          }
          return signer;
        },
        {
          algo,
          comment,
          timestamp: Math.floor(Date.now() / 1000),
          signerName: 'signerd',
          signerVersion: packageVersion(),
          keyDestination: dtb ? await readFile(dtb.path) : null,
          // digsigserver passes -r whenever the field is sent.
          requireKeys: form.text.has('mark_required'),
        },
      );
      ctx.fields['signed'] = signatures.length;
      if (dtb && keyDestination) {
        const tar = path.join(ctx.dir, TARBALL_NAME);
        await writeFile(
          tar,
          gzippedTar([
            [REPLY_NAME, image],
            [dtb.filename, keyDestination],
          ]),
          { flag: 'wx', mode: 0o600 },
        );
        return attachment(tar, TARBALL_NAME);
      }
      const out = path.join(ctx.dir, REPLY_NAME);
      await writeFile(out, image, { flag: 'wx', mode: 0o600 });
      return attachment(out, REPLY_NAME);
    },
  };
}
