// The digsigserver endpoints: for each, the form fields it takes (and their limits) and the
// work it does once the form is in. Field names, defaults and reply shapes follow digsigserver, so
// the public class calls to the endpoints signerd implements work unchanged (docs/firmware-http.md
// lists every public call and what it gets).
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DaemonError } from '../../lib/errors.js';
import { FORM_SHORT_FIELD_BYTES_MAX, FORM_URI_FIELD_BYTES_MAX, TAR_META_BYTES_MAX, type FirmwareHttpLimits } from '../../lib/limits.js';
import { signModuleTree } from './http-modules.js';
import { signTaTree } from './http-optee.js';
import type { RepackLimits } from './tar-repack.js';
import { menderRoute } from './http-mender.js';
import { attachment, selectorField, uploadedFile, type Route, type SwupdateMethod, type TaAlgorithm } from './http-route.js';

const OCTET = ['application/octet-stream'] as const;
const SHORT = { kind: 'text', bytesMax: FORM_SHORT_FIELD_BYTES_MAX } as const;

/** A table lookup that never reaches Object.prototype ('constructor', '__proto__'). */
function own<T>(table: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

function treeLimits(limits: FirmwareHttpLimits): RepackLimits {
  return {
    inflatedBytesMax: limits.inflatedBytesMax,
    signedFileBytesMax: limits.signedFileBytesMax,
    entriesMax: limits.tarEntriesMax,
    metaBytesMax: TAR_META_BYTES_MAX,
  };
}

const modules: Route = {
  fields: (limits) => ({ machine: SHORT, hashalg: SHORT, artifact: { kind: 'file', bytesMax: limits.uploadBytesMax, types: OCTET } }),
  async run(form, ctx) {
    const machine = selectorField(form, 'machine');
    const hashalg = form.text.get('hashalg') ?? 'sha512';
    if (hashalg !== 'sha256' && hashalg !== 'sha384' && hashalg !== 'sha512') throw new DaemonError('BAD_REQUEST', 'hashalg must be sha256, sha384 or sha512');
    const upload = uploadedFile(form, 'artifact');
    Object.assign(ctx.fields, { machine, hashalg });
    ctx.core.requireKey('kmodsign', machine);
    const out = path.join(ctx.dir, 'signed-artifact.tar.gz');
    Object.assign(ctx.fields, await signModuleTree(upload, ctx.dir, out, (module) => ctx.core.signModule(machine, hashalg, module), treeLimits(ctx.limits)));
    return attachment(out, 'signed-artifact.tar.gz');
  },
};

const METHODS: Record<string, SwupdateMethod | undefined> = { RSA: 'RSA', 'RSA-PSS': 'RSA-PSS', CMS: 'CMS' };

const swupdate: Route = {
  fields: (limits) => ({
    distro: SHORT,
    method: SHORT,
    backend: SHORT,
    'key-uri': { kind: 'text', bytesMax: FORM_URI_FIELD_BYTES_MAX },
    'sw-description': { kind: 'file', bytesMax: limits.swDescriptionBytesMax, types: OCTET },
  }),
  async run(form, ctx) {
    const backend = form.text.get('backend') || 'ssl';
    if (backend === 'pkcs11')
      throw new DaemonError(
        'NOT_IMPLEMENTED',
        'backend=pkcs11 is not supported: signerd picks the key by distro from its key root (which may hold HSM keys); send backend=ssl',
      );
    if (backend !== 'ssl') throw new DaemonError('BAD_REQUEST', 'backend must be ssl');
    const distro = selectorField(form, 'distro');
    const method = own(METHODS, form.text.get('method') || 'RSA');
    if (!method) throw new DaemonError('BAD_REQUEST', 'method must be RSA, RSA-PSS or CMS');
    const file = form.files.get('sw-description');
    if (!file) throw new DaemonError('BAD_REQUEST', 'sw-description missing (an application/octet-stream file upload)');
    const content = await readFile(file.path);
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(content);
    } catch {
      throw new DaemonError('BAD_REQUEST', 'sw-description is not UTF-8 text');
    }
    Object.assign(ctx.fields, { distro, method, bytes: content.length });
    ctx.core.requireKey(method === 'CMS' ? 'swupdate-cms' : 'swupdate-rsa', distro);
    const out = path.join(ctx.dir, 'sw-description.sig');
    await writeFile(out, await ctx.core.signSwDescription(distro, method, content), { flag: 'wx', mode: 0o600 });
    return attachment(out, 'sw-description.sig');
  },
};

/** sign_encrypt.py's --algo names; digsigserver always uses PSS. */
const TA_ALGORITHMS: Record<string, TaAlgorithm | undefined> = { TEE_ALG_RSASSA_PKCS1_PSS_MGF1_SHA256: 'PSS', TEE_ALG_RSASSA_PKCS1_V1_5_SHA256: 'PKCS1' };

const optee: Route = {
  fields: (limits) => ({ machine: SHORT, algo: SHORT, artifact: { kind: 'file', bytesMax: limits.uploadBytesMax, types: OCTET } }),
  async run(form, ctx) {
    const machine = selectorField(form, 'machine');
    const algo = own(TA_ALGORITHMS, form.text.get('algo') || 'TEE_ALG_RSASSA_PKCS1_PSS_MGF1_SHA256');
    if (!algo) throw new DaemonError('BAD_REQUEST', 'algo must be TEE_ALG_RSASSA_PKCS1_PSS_MGF1_SHA256 or TEE_ALG_RSASSA_PKCS1_V1_5_SHA256');
    const upload = uploadedFile(form, 'artifact');
    Object.assign(ctx.fields, { machine, algo });
    ctx.core.requireKey('opteesign', machine);
    const out = path.join(ctx.dir, 'signed-artifact.tar.gz');
    ctx.fields['signed'] = await signTaTree(upload, ctx.dir, out, (ta) => ctx.core.signTrustedApp(machine, algo, ta), treeLimits(ctx.limits));
    return attachment(out, 'signed-artifact.tar.gz');
  },
};

export const ROUTES: Record<string, Route> = {
  '/sign/modules': modules,
  '/sign/swupdate': swupdate,
  '/sign/mender': menderRoute,
  '/sign/optee': optee,
};

/** digsigserver endpoints that run vendor tools this daemon does not ship: 501 naming what is missing. */
export const VENDOR_ROUTES: Record<string, string> = {
  '/sign/tegra': 'NVIDIA L4T BSP signing tools (tegraflash.py, tegrasign_v3.py) are not supported by signerd',
  '/sign/tegra/uefi': 'UEFI signing for Tegra (sbsign / openssl cms) is not supported by signerd yet',
  '/sign/tegra/ueficapsule': "UEFI capsules need NVIDIA's GenerateCapsule.py from the L4T BSP, which signerd does not ship",
  '/sign/tegra/ekb': "EKB generation needs NVIDIA's L4T BSP tools, which signerd does not ship",
  // Earlier revisions of meta-tegra-signing-server's UEFI classes post here (digsigserver: /sign/tegra/...).
  '/sign/uefi': 'UEFI signing for Tegra (sbsign / openssl cms) is not supported by signerd yet',
  '/sign/ueficapsule': "UEFI capsules need NVIDIA's GenerateCapsule.py from the L4T BSP, which signerd does not ship",
  '/sign/imx': "i.MX HAB/AHAB signing needs NXP's Code Signing Tool (cst), which signerd does not drive",
  '/sign/fitimage': 'FIT image signing needs U-Boot mkimage, which signerd does not drive',
  '/sign/rk': "Rockchip signing needs Rockchip's rk_sign_tool, which signerd does not ship",
  '/sign/rkoptee-tee': "Rockchip OP-TEE signing needs Rockchip's tools, which signerd does not ship",
  '/sign/rkoptee-ta': "Rockchip OP-TEE TA signing needs Rockchip's tools, which signerd does not ship",
};
