// POST /sign/optee: in each directory of the uploaded tarball that holds a `*.stripped.elf` (or
// `.stripped.so`), signs it as `<uuid>.ta` and drops that directory's inputs, as digsigserver
// does. UUID from a `*.uuid` file or the image's base name; version from `*.ta-version` (default 0).
import path from 'node:path';
import { DaemonError } from '../../../lib/errors.js';
import type { UploadRoute } from '../../../lib/server/http-service.js';
import { OPTEE_SMALL_FILE_BYTES_MAX, TAR_KEPT_NAMES_BYTES_MAX, type FirmwareHttpLimits } from '../firmware-limits.js';
import type { DigestSigner } from '../formats/digest-signer.js';
import { signTa, type OpteeAlgorithm } from '../formats/optee.js';
import type { KeyRoot } from '../keys/key-root.js';
import type { TarEntry } from '../tar/tar-reader.js';
import { repackLimits, repackTarball, type Repacker, type RepackLimits } from '../tar/tar-repack.js';
import { attachment, fileField, own, selectorField, SHORT_FIELD, uploadedFile } from './form-fields.js';

/** sign_encrypt.py's --algo names; digsigserver always uses PSS. */
const TA_ALGORITHMS: Record<string, OpteeAlgorithm> = { TEE_ALG_RSASSA_PKCS1_PSS_MGF1_SHA256: 'PSS', TEE_ALG_RSASSA_PKCS1_V1_5_SHA256: 'PKCS1' };

export function opteeRoute(keyRoot: KeyRoot, limits: FirmwareHttpLimits): UploadRoute {
  return {
    fields: { machine: SHORT_FIELD, algo: SHORT_FIELD, artifact: fileField(limits.uploadBytesMax) },
    async run(form, ctx) {
      const machine = selectorField(form, 'machine');
      const algo = own(TA_ALGORITHMS, form.text.get('algo') || 'TEE_ALG_RSASSA_PKCS1_PSS_MGF1_SHA256');
      if (!algo) throw new DaemonError('BAD_REQUEST', 'algo must be TEE_ALG_RSASSA_PKCS1_PSS_MGF1_SHA256 or TEE_ALG_RSASSA_PKCS1_V1_5_SHA256');
      const upload = uploadedFile(form, 'artifact');
      Object.assign(ctx.fields, { machine, algo });
      // Before any unpacking: an unknown machine fails at once.
      const signer = keyRoot.signer(machine, 'opteesign');
      const out = path.join(ctx.dir, 'signed-artifact.tar.gz');
      ctx.fields['signed'] = await signTaTree(upload, ctx.dir, out, signer, algo, {
        ...repackLimits(limits),
        // Every entry is held until the TA directories are known; pax names of 64 KiB each would fill memory.
        namesBytesMax: TAR_KEPT_NAMES_BYTES_MAX,
      });
      return attachment(out, 'signed-artifact.tar.gz');
    },
  };
}

interface TaInputs {
  image?: TarEntry;
  uuid?: TarEntry;
  version?: TarEntry;
}

function signTaTree(upload: string, workDir: string, outPath: string, signer: DigestSigner, algo: OpteeAlgorithm, limits: RepackLimits): Promise<number> {
  return repackTarball(upload, workDir, outPath, limits, async (tar) => {
    const entries: TarEntry[] = [];
    for await (const entry of tar.entries()) entries.push(entry);
    const dirs = taDirectories(entries);
    let signed = 0;
    for (const entry of entries) {
      if (entry.name === '') continue;
      const inputs = dirs.get(path.posix.dirname(entry.name));
      if (!inputs || entry.type === 'directory') await tar.copy(entry);
      else if (entry === inputs.image) {
        const uuid = parseUuid(inputs.uuid ? firstLine(await smallContent(tar, inputs.uuid)) : imageBaseName(entry.name));
        const version = inputs.version ? parseTaVersion(firstLine(await smallContent(tar, inputs.version))) : 0;
        const ta = await signTa(signer, { uuid, version, elf: await tar.content(entry), algo });
        await tar.replace({ ...entry, name: path.posix.join(path.posix.dirname(entry.name), `${uuid}.ta`), mode: 0o644 }, ta);
        signed++;
      }
      // Any other file in a TA directory is an input, dropped as digsigserver drops it.
    }
    if (signed === 0) throw new DaemonError('BAD_REQUEST', 'no *.stripped.elf found in the artifact');
    return signed;
  });
}

/** Directories holding a TA image, with their uuid and version files; one image per directory. */
function taDirectories(entries: TarEntry[]): Map<string, TaInputs> {
  const byDir = new Map<string, TaInputs>();
  for (const entry of entries) {
    if (entry.type !== 'file') continue;
    const base = path.posix.basename(entry.name);
    const kind = /\.stripped\.(elf|so)$/.test(base) ? 'image' : base.endsWith('.uuid') ? 'uuid' : base.endsWith('.ta-version') ? 'version' : null;
    if (!kind) continue;
    const dir = path.posix.dirname(entry.name);
    const inputs = byDir.get(dir) ?? {};
    if (inputs[kind]) throw new DaemonError('BAD_REQUEST', `more than one *${kind === 'image' ? '.stripped.elf' : '.' + kind} in ${dir}`);
    inputs[kind] = entry;
    byDir.set(dir, inputs);
  }
  for (const [dir, inputs] of byDir) if (!inputs.image) byDir.delete(dir);
  return byDir;
}

async function smallContent(tar: Repacker, entry: TarEntry): Promise<string> {
  if (entry.size > OPTEE_SMALL_FILE_BYTES_MAX) throw new DaemonError('BAD_REQUEST', `${entry.name} is too long`);
  return (await tar.content(entry)).toString('utf8');
}

function firstLine(text: string): string {
  return (text.split('\n')[0] ?? '').trim();
}

function imageBaseName(name: string): string {
  return path.posix.basename(name).replace(/\.stripped\.(elf|so)$/, '');
}

function parseUuid(text: string): string {
  if (!/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(text)) {
    throw new DaemonError('BAD_REQUEST', `TA uuid ${JSON.stringify(text.slice(0, 40))} is not a UUID`);
  }
  return text.toLowerCase();
}

/** Python's int(text, 0): decimal, 0x, 0o or 0b; a u32. */
function parseTaVersion(text: string): number {
  const match = /^(?:0[xX]([0-9a-fA-F]+)|0[oO]([0-7]+)|0[bB]([01]+)|([1-9][0-9]*|0))$/.exec(text.replace(/_/g, ''));
  const value = match ? (match[1] ? parseInt(match[1], 16) : match[2] ? parseInt(match[2], 8) : match[3] ? parseInt(match[3], 2) : Number(match[4])) : NaN;
  if (!Number.isSafeInteger(value) || value > 0xffffffff)
    throw new DaemonError('BAD_REQUEST', `TA version ${JSON.stringify(text.slice(0, 20))} is not a 32-bit number`);
  return value;
}
