// POST /sign/swupdate: digsigserver's form (distro, method, backend, key-uri, sw-description) and
// its reply, the bytes of sw-description.sig. backend=pkcs11 is refused: the key root, which may
// hold HSM keys, picks the key by distro.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DaemonError } from '../../../lib/errors.js';
import type { UploadRoute } from '../../../lib/server/http-service.js';
import type { FirmwareHttpLimits } from '../firmware-limits.js';
import { isSwupdateMethod, signSwDescription, swupdateSlot } from '../formats/swupdate.js';
import type { KeyRoot } from '../keys/key-root.js';
import { attachment, fileField, selectorField, SHORT_FIELD, uploadedFile, URI_FIELD } from './form-fields.js';

export function swupdateRoute(keyRoot: KeyRoot, limits: FirmwareHttpLimits): UploadRoute {
  return {
    fields: { distro: SHORT_FIELD, method: SHORT_FIELD, backend: SHORT_FIELD, 'key-uri': URI_FIELD, 'sw-description': fileField(limits.swDescriptionBytesMax) },
    async run(form, ctx) {
      const backend = form.text.get('backend') || 'ssl';
      if (backend === 'pkcs11')
        throw new DaemonError(
          'NOT_IMPLEMENTED',
          'backend=pkcs11 is not supported: signerd picks the key by distro from its key root (which may hold HSM keys); send backend=ssl',
        );
      if (backend !== 'ssl') throw new DaemonError('BAD_REQUEST', 'backend must be ssl');
      const distro = selectorField(form, 'distro');
      const method = form.text.get('method') || 'RSA';
      if (!isSwupdateMethod(method)) throw new DaemonError('BAD_REQUEST', 'method must be RSA, RSA-PSS or CMS');
      const content = await readFile(uploadedFile(form, 'sw-description'));
      Object.assign(ctx.fields, { distro, method, bytes: content.length });
      const signature = await signSwDescription(keyRoot.signer(distro, swupdateSlot(method), 'sw-description'), method, content);
      const out = path.join(ctx.dir, 'sw-description.sig');
      await writeFile(out, signature, { flag: 'wx', mode: 0o600 });
      return attachment(out, 'sw-description.sig');
    },
  };
}
