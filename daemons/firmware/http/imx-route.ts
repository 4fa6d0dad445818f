// POST /sign/imx: digsigserver's i.MX 8M HAB4 form (machine, soctype, cstversion, backend, the CST text
// CSF as `csf` and the image as `artifact`) and its reply `artifact.signed`, the binary CSF. The keys
// come from the key root (<machine>/imxsign/), never from the CSF's File lines.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DaemonError } from '../../../lib/errors.js';
import type { UploadRoute } from '../../../lib/server/http-service.js';
import { HAB_CSF_TEXT_BYTES_MAX, type FirmwareHttpLimits } from '../firmware-limits.js';
import { buildHabCsf, parseCsfText, srkTable, type HabCsfRequest } from '../formats/hab4-csf.js';
import type { HabSrks } from '../keys/hab-srks.js';
import type { KeyRoot } from '../keys/key-root.js';
import { attachment, fileField, selectorField, SHORT_FIELD } from './form-fields.js';

const REPLY_NAME = 'artifact.signed';
/** digsigserver's IMXSigner.supported_soctypes. */
const HAB4_SOC_TYPES = ['mx8m'];
/** AHAB SoCs (signed containers, not CSFs): NXP's SPSDK/CST territory. */
const AHAB_SOC_TYPE = /^mx(8|8x|8qm|8qxp|8dxl|8ulp|9[0-9]*)$/;
/** cstversion names a CST install in digsigserver (a path element there); here it is only checked and logged. */
const CST_VERSION = /^[0-9]{1,3}(\.[0-9]{1,3}){0,3}$/;
/** A plain file name (digsigserver saves the upload under it, and cst opens the Blocks' file by it). */
const PLAIN_FILE_NAME = /^(?!\.\.?$)[^/\\\p{Cc}]{1,255}$/u;

export function imxRoute(keyRoot: KeyRoot, limits: FirmwareHttpLimits): UploadRoute {
  return {
    fields: {
      machine: SHORT_FIELD,
      soctype: SHORT_FIELD,
      cstversion: SHORT_FIELD,
      backend: SHORT_FIELD,
      // digsigserver takes the CSF only as text/plain (curl's type for *.txt, or `;type=text/plain`).
      csf: { kind: 'file', bytesMax: HAB_CSF_TEXT_BYTES_MAX, types: ['text/plain'] },
      artifact: fileField(limits.uploadBytesMax),
    },
    async run(form, ctx) {
      const machine = selectorField(form, 'machine');
      const soctype = form.text.get('soctype') ?? '';
      if (AHAB_SOC_TYPE.test(soctype))
        throw new DaemonError('NOT_IMPLEMENTED', `soctype ${soctype} boots AHAB containers, which signerd does not sign; only mx8m (HAB4) is supported`);
      if (!HAB4_SOC_TYPES.includes(soctype)) throw new DaemonError('BAD_REQUEST', 'soctype must be mx8m');
      const cstversion = form.text.get('cstversion') ?? '';
      if (!CST_VERSION.test(cstversion)) throw new DaemonError('BAD_REQUEST', 'cstversion must be a version such as 3.3.1');
      // Either backend: the key root says where the keys are (files or an HSM); the client's File lines name none.
      const backend = form.text.get('backend') || 'ssl';
      if (backend !== 'ssl' && backend !== 'pkcs11') throw new DaemonError('BAD_REQUEST', 'backend must be ssl or pkcs11');
      Object.assign(ctx.fields, { machine, soctype, cstversion, backend });
      // Before reading the uploads: an unknown machine fails at once.
      const keys = { csf: keyRoot.signer(machine, 'imxsign-csf'), img: keyRoot.signer(machine, 'imxsign-img') };
      const srks = keyRoot.habSrks(machine);

      const csfFile = form.files.get('csf');
      if (!csfFile) throw new DaemonError('BAD_REQUEST', 'csf missing (a text/plain file upload)');
      const request = parseCsfText(utf8(await readFile(csfFile.path)));
      checkSrkIndex(request, srks, machine);
      const artifact = form.files.get('artifact');
      if (!artifact) throw new DaemonError('BAD_REQUEST', 'artifact missing (an application/octet-stream file upload)');
      if (artifact.size === 0) throw new DaemonError('BAD_REQUEST', 'artifact is empty');
      if (!PLAIN_FILE_NAME.test(request.blocksFile))
        throw new DaemonError('BAD_REQUEST', 'CSF: the Blocks must name the uploaded file by its plain name (no directories)');
      if (request.blocksFile !== artifact.filename)
        throw new DaemonError(
          'BAD_REQUEST',
          `CSF: the Blocks name ${JSON.stringify(request.blocksFile)}, but the artifact was uploaded as ${JSON.stringify(artifact.filename.slice(0, 255))}`,
        );
      if (artifact.size > limits.signedFileBytesMax)
        throw new DaemonError('PAYLOAD_TOO_LARGE', `an i.MX image is signed in memory: at most ${limits.signedFileBytesMax} bytes`);
      Object.assign(ctx.fields, { blocks: request.blocks.length, bytes: artifact.size });

      const csf = await buildHabCsf(request, await readFile(artifact.path), { srkTable: srkTable(srks.certificates), ...keys });
      const out = path.join(ctx.dir, REPLY_NAME);
      await writeFile(out, csf, { flag: 'wx', mode: 0o600 });
      return attachment(out, REPLY_NAME);
    },
  };
}

function utf8(bytes: Buffer): string {
  if (bytes.length === 0) throw new DaemonError('BAD_REQUEST', 'csf is empty');
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new DaemonError('BAD_REQUEST', 'csf is not UTF-8 text');
  }
}

/** The boot ROM checks the CSF and IMG certificates against the SRK the CSF installs: it must be the one that issued them. */
function checkSrkIndex(request: HabCsfRequest, srks: HabSrks, machine: string): void {
  if (request.srkIndex >= srks.certificates.length)
    throw new DaemonError(
      'BAD_REQUEST',
      `CSF: Install SRK Source index ${request.srkIndex}, but the SRK table of ${machine} holds ${srks.certificates.length} keys`,
    );
  if (request.srkIndex !== srks.issuerIndex)
    throw new DaemonError(
      'BAD_REQUEST',
      `CSF: Install SRK Source index ${request.srkIndex}, but the CSF and IMG keys of ${machine} are issued by SRK ${srks.issuerIndex + 1} (Source index ${srks.issuerIndex})`,
    );
}
