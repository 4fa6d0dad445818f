// POST /sign/mender: digsigserver's form (distro + artifact-uri=file://..., the artifact signed in
// place, reply "Signing successful"), restricted to files under --mender-artifact-root, plus an
// upload form (artifact=@x.mender) that answers with the signed artifact.
import crypto from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { DaemonError } from '../../../lib/errors.js';
import type { HttpReply, UploadContext, UploadRoute } from '../../../lib/server/http-service.js';
import { MENDER_ENTRIES_MAX, MENDER_MANIFEST_BYTES_MAX, TAR_KEPT_NAMES_BYTES_MAX, TAR_META_BYTES_MAX, type FirmwareHttpLimits } from '../firmware-limits.js';
import type { DigestSigner } from '../formats/digest-signer.js';
import { signMenderArtifact, type ArtifactLimits } from '../formats/mender-artifact.js';
import type { KeyRoot } from '../keys/key-root.js';
import { attachment, fileField, selectorField, SHORT_FIELD, URI_FIELD } from './form-fields.js';

const ARTIFACT_LIMITS: ArtifactLimits = {
  entriesMax: MENDER_ENTRIES_MAX,
  metaBytesMax: TAR_META_BYTES_MAX,
  namesBytesMax: TAR_KEPT_NAMES_BYTES_MAX,
  manifestBytesMax: MENDER_MANIFEST_BYTES_MAX,
};

/** `artifactRoot`: --mender-artifact-root, resolved; artifact-uri requests are refused without one. */
export function menderRoute(keyRoot: KeyRoot, limits: FirmwareHttpLimits, artifactRoot: string | null): UploadRoute {
  return {
    fields: { distro: SHORT_FIELD, 'artifact-uri': URI_FIELD, artifact: fileField(limits.uploadBytesMax) },
    async run(form, ctx) {
      const uri = form.text.get('artifact-uri');
      const upload = form.files.get('artifact');
      if (uri !== undefined && upload) throw new DaemonError('BAD_REQUEST', 'give artifact-uri or artifact, not both');
      if (uri === undefined && !upload) throw new DaemonError('BAD_REQUEST', 'Artifact URI missing');
      const distro = selectorField(form, 'distro');
      ctx.fields['distro'] = distro;
      const signer = keyRoot.signer(distro, 'mender');
      if (upload) {
        const out = path.join(ctx.dir, 'signed.mender');
        const { files } = await signMenderArtifact(upload.path, out, signer, ARTIFACT_LIMITS, 'private');
        ctx.fields['files'] = files;
        return attachment(out, 'signed.mender');
      }
      const target = await resolveArtifactUri(uri!, artifactRoot, limits.inflatedBytesMax);
      return signInPlace(target, artifactRoot!, signer, ctx);
    },
  };
}

async function signInPlace(target: string, root: string, signer: DigestSigner, ctx: UploadContext): Promise<HttpReply> {
  const name = path.basename(target);
  ctx.fields['artifact'] = name.slice(0, 120);
  // Everything from here goes through one open descriptor of the artifact's directory, never its path
  // again: whoever may write under the root could otherwise swap a directory on the path for a link
  // while the artifact is read, and have the signed file renamed over a file outside the root.
  // /proc/self/fd/<fd>/<name> is resolved from the directory the descriptor holds.
  const dir = await fs.open(path.dirname(target), fsConstants.O_RDONLY | fsConstants.O_DIRECTORY | fsConstants.O_NOFOLLOW).catch(() => {
    throw new DaemonError('NOT_ALLOWED', "the artifact's directory changed while it was checked");
  });
  const via = (file: string): string => `/proc/self/fd/${dir.fd}/${file}`;
  // Written beside the target and renamed over it, so a failure never leaves a half-signed artifact.
  const temp = `.${name}.signerd-${crypto.randomBytes(6).toString('hex')}`;
  try {
    // The directory held is the one checked: still the root or inside it, wherever it is now.
    const held = await fs.realpath(`/proc/self/fd/${dir.fd}`);
    if (held !== path.resolve(root) && !inside(root, held)) throw new DaemonError('NOT_ALLOWED', 'artifact-uri is outside the configured artifact root');
    // The build's file, not the daemon's: the signed copy takes the artifact's owner and mode
    // (docs/firmware-http.md), read from the artifact as opened and set on the copy's descriptor
    // before it is closed. By name they would follow a link renamed over the temporary file meanwhile.
    const { files } = await signMenderArtifact(via(name), via(temp), signer, ARTIFACT_LIMITS, 'as-input');
    await fs.rename(via(temp), via(name));
    ctx.fields['files'] = files;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') throw new DaemonError('NOT_ALLOWED', "the daemon may not write in the artifact's directory");
    // O_NOFOLLOW: the checked name was replaced by a link since.
    if (code === 'ELOOP') throw new DaemonError('NOT_ALLOWED', 'the artifact changed while it was checked');
    throw err;
  } finally {
    await fs.rm(via(temp), { force: true });
    await dir.close();
  }
  return { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'Signing successful' };
}

/** Whether `real` (resolved) is strictly inside `root` (resolved). */
function inside(root: string, real: string): boolean {
  const rel = path.relative(root, real);
  return rel !== '' && rel.split(path.sep)[0] !== '..' && !path.isAbsolute(rel);
}

/** The real path a missing file would have: its deepest existing ancestor's real path, then the rest of the name. */
async function wouldResolveTo(named: string): Promise<string> {
  const rest: string[] = [];
  for (let at = path.resolve(named); ; at = path.dirname(at)) {
    try {
      return path.join(await fs.realpath(at), ...rest);
    } catch {
      if (path.dirname(at) === at) return path.resolve(named);
      rest.unshift(path.basename(at));
    }
  }
}

/**
 * file:// URIs only, resolved (symlinks included) to a regular file inside the configured root. The
 * path is taken as written, as digsigserver takes `urlparse(uri).path`: the build classes send
 * `file://${IMGDEPLOYDIR}/<name>.mender` unencoded, so a `%` in a name is a `%`, never an escape.
 */
async function resolveArtifactUri(uri: string, root: string | null, bytesMax: number): Promise<string> {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(uri)?.[1]?.toLowerCase();
  if (scheme === undefined) throw new DaemonError('BAD_REQUEST', 'artifact-uri is not a URI');
  if (scheme === 's3')
    throw new DaemonError(
      'NOT_IMPLEMENTED',
      'artifact-uri s3:// is not supported (it needs the aws CLI); use file:// under --mender-artifact-root or upload the artifact',
    );
  const file = /^file:\/\/([^/?#]*)(\/[^?#]*)$/i.exec(uri);
  if (scheme !== 'file' || (file !== null && file[1] !== '' && file[1]!.toLowerCase() !== 'localhost'))
    throw new DaemonError('BAD_REQUEST', 'artifact-uri must be a file:// URI');
  // digsigserver would drop a query or fragment and look for the rest: a name with ? or # is refused outright.
  if (file === null || file[2]!.includes('\0'))
    throw new DaemonError('BAD_REQUEST', 'artifact-uri is not a file path (file://<absolute path>, without ? or #)');
  if (!root) throw new DaemonError('NOT_IMPLEMENTED', 'artifact-uri needs the daemon started with --mender-artifact-root');
  const outside = new DaemonError('NOT_ALLOWED', 'artifact-uri is outside the configured artifact root');
  const named = path.resolve(file[2]!);
  let real: string;
  try {
    real = await fs.realpath(named);
  } catch {
    // "No such file" only for a path under the root: elsewhere the answer would tell whether a file
    // exists. Where a missing name would be is judged through the symlinks that do exist, as an
    // existing one is: a link under the root that leads out of it is outside.
    throw inside(root, await wouldResolveTo(named)) ? new DaemonError('BAD_REQUEST', 'artifact-uri: no such file') : outside;
  }
  if (!inside(root, real)) throw outside;
  const stat = await fs.stat(real);
  if (!stat.isFile()) throw new DaemonError('BAD_REQUEST', 'artifact-uri is not a regular file');
  if (stat.size > bytesMax) throw new DaemonError('PAYLOAD_TOO_LARGE', `artifact larger than ${bytesMax} bytes`);
  return real;
}
