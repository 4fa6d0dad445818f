// Signs a Mender artifact file (format v2/v3, an uncompressed outer tar): checks its version and
// manifest (and the manifest's hashes of the outer files it can see), signs the manifest bytes,
// and writes version, manifest, manifest.sig, then every other entry unchanged.
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { DaemonError } from '../../../lib/errors.js';
import { readEntryContent, readTarEntries, type TarEntry, type TarReadLimits } from '../tar/tar-reader.js';
import { copyEntryContent, tarHeader, tarPadding, TAR_END, writeChunk } from '../tar/tar-writer.js';
import type { DigestSigner } from './digest-signer.js';
import { signMenderManifest } from './mender.js';

export interface ArtifactLimits extends TarReadLimits {
  manifestBytesMax: number;
}

/**
 * Whose the signed file is: 'private' (the daemon's, mode 0600: a reply in the request's directory), or
 * 'as-input' (an artifact signed in place: the input's owner where the daemon may set it, as
 * digsigserver's copy-back kept it, and the input's mode; otherwise the daemon's user's, with that mode).
 */
export type OutputOwner = 'private' | 'as-input';

const MANIFEST_LINE = /^([0-9a-f]{64}) {2}(\S+)$/;

function invalid(message: string): DaemonError {
  return new DaemonError('BAD_REQUEST', `invalid Mender artifact: ${message}`);
}

/**
 * `input` is opened without following a final symlink and `output` is created (never an existing
 * name), both once: their owner and mode are read and set through the open descriptors, never by
 * name again, since whoever may write in the directory could swap a name for a link meanwhile.
 */
export async function signMenderArtifact(
  input: string,
  output: string,
  signer: DigestSigner,
  limits: ArtifactLimits,
  owner: OutputOwner,
): Promise<{ files: number }> {
  const fh = await fsp.open(input, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    const inputStat = await fh.stat();
    if (!inputStat.isFile()) throw invalid('it is not a regular file');
    const entries: TarEntry[] = [];
    for await (const entry of readTarEntries(fh, limits)) entries.push(entry);
    const [version, manifest, ...rest] = entries;
    if (version?.name !== 'version' || manifest?.name !== 'manifest') throw invalid("it must start with 'version' and 'manifest'");
    for (const entry of entries) if (entry.type !== 'file') throw invalid(`${entry.name} is not a regular file`);
    if (rest.some((e) => e.name === 'manifest.sig')) throw invalid('it is already signed');
    checkMembers(entries);
    if (version.size > 4096) throw invalid('version too large');
    if (manifest.size > limits.manifestBytesMax) throw new DaemonError('PAYLOAD_TOO_LARGE', `manifest larger than ${limits.manifestBytesMax} bytes`);
    checkVersion(await readEntryContent(fh, version));
    const manifestBytes = await readEntryContent(fh, manifest);
    const listed = parseManifest(manifestBytes);
    if (!listed.has('version')) throw invalid("manifest does not list 'version'");
    // A header the manifest does not list would be outside what the signature covers. (An augmented
    // artifact's header-augment is listed by manifest-augment, which is not signed, by design.)
    for (const entry of rest) if (/^header\.tar/.test(entry.name) && !listed.has(entry.name)) throw invalid(`manifest does not list '${entry.name}'`);
    for (const entry of entries) {
      const expected = listed.get(entry.name);
      if (expected !== undefined && (await hashEntry(fh, entry)) !== expected) throw invalid(`${entry.name} does not match its manifest hash`);
    }
    const signature = Buffer.from(await signMenderManifest(signer, manifestBytes), 'latin1');
    await writeSignedArtifact(fh, output, owner === 'as-input' ? inputStat : null, version, manifest, signature, rest);
    return { files: listed.size };
  } finally {
    await fh.close();
  }
}

function checkVersion(bytes: Buffer): void {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw invalid('version is not JSON');
  }
  const { format, version } = (parsed ?? {}) as { format?: unknown; version?: unknown };
  if (format !== 'mender' || (version !== 2 && version !== 3)) throw invalid('only Mender artifact format versions 2 and 3 can be signed');
}

/** The outer members mender-artifact reads (and `scripts/firmware-sign-mender.sh` allows). */
const MEMBER_NAME = /^(version|manifest|manifest-augment|header(-augment)?\.tar(\.gz|\.xz|\.zst)?|data\/[0-9]{4}\.tar(\.gz|\.xz|\.zst)?)$/;

/**
 * What `mender-artifact validate` would refuse after signing is refused before: other member names,
 * a name twice, no header. A signed artifact that fails at deploy time passed the build for nothing.
 */
function checkMembers(entries: readonly TarEntry[]): void {
  const seen = new Set<string>();
  for (const entry of entries) {
    if (!MEMBER_NAME.test(entry.name)) throw invalid(`unexpected member ${JSON.stringify(entry.name.slice(0, 100))} (not a Mender artifact member)`);
    if (seen.has(entry.name)) throw invalid(`${entry.name} appears twice`);
    seen.add(entry.name);
  }
  if (!entries.some((e) => /^header\.tar/.test(e.name))) throw invalid('it has no header.tar member');
}

/** `<sha256 hex>  <path>` lines, each path once, none leading out of the artifact. */
function parseManifest(bytes: Buffer): Map<string, string> {
  const text = bytes.toString('utf8');
  if (!text.endsWith('\n')) throw invalid('manifest does not end with a newline');
  const listed = new Map<string, string>();
  for (const line of text.slice(0, -1).split('\n')) {
    const match = MANIFEST_LINE.exec(line);
    if (!match) throw invalid('manifest line is not "<sha256>  <path>"');
    if (listed.has(match[2]!)) throw invalid('manifest lists a path twice');
    if (match[2]!.startsWith('/') || match[2]!.split('/').includes('..')) throw invalid('manifest lists a path outside the artifact');
    listed.set(match[2]!, match[1]!);
  }
  return listed;
}

async function hashEntry(fh: fsp.FileHandle, entry: TarEntry): Promise<string> {
  const hash = crypto.createHash('sha256');
  const chunk = Buffer.alloc(64 * 1024);
  for (let done = 0; done < entry.size;) {
    const { bytesRead } = await fh.read(chunk, 0, Math.min(chunk.length, entry.size - done), entry.dataOffset + done);
    if (bytesRead === 0) throw invalid('truncated entry');
    hash.update(chunk.subarray(0, bytesRead));
    done += bytesRead;
  }
  return hash.digest('hex');
}

/** `like`: the owner and mode the output takes (set on its descriptor once written), or null to keep it the daemon's, 0600. */
async function writeSignedArtifact(
  fh: fsp.FileHandle,
  output: string,
  like: fs.Stats | null,
  version: TarEntry,
  manifest: TarEntry,
  signature: Buffer,
  rest: TarEntry[],
): Promise<void> {
  const handle = await fsp.open(output, 'wx', 0o600);
  const out = handle.createWriteStream({ autoClose: false });
  const failed = new Promise<never>((_, reject) => out.once('error', reject));
  failed.catch(() => undefined);
  try {
    await Promise.race([failed, writeEntries(fh, out, version, manifest, signature, rest)]);
    await Promise.race([failed, new Promise<void>((resolve) => out.end(() => resolve()))]);
    if (like) {
      // fchown, then fchmod (a chown clears set-id bits). EPERM: a daemon that is not root keeps the file its own.
      await handle.chown(like.uid, like.gid).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EPERM') throw err;
      });
      await handle.chmod(like.mode & 0o7777);
    }
  } finally {
    out.destroy();
    await handle.close();
  }
}

async function writeEntries(
  fh: fsp.FileHandle,
  out: fs.WriteStream,
  version: TarEntry,
  manifest: TarEntry,
  signature: Buffer,
  rest: TarEntry[],
): Promise<void> {
  await copyVerbatim(fh, out, version);
  await copyVerbatim(fh, out, manifest);
  await writeChunk(out, tarHeader({ ...manifest, name: 'manifest.sig', size: signature.length }));
  await writeChunk(out, signature);
  await writeChunk(out, tarPadding(signature.length));
  for (const entry of rest) await copyVerbatim(fh, out, entry);
  await writeChunk(out, TAR_END);
}

async function copyVerbatim(fh: fsp.FileHandle, out: fs.WriteStream, entry: TarEntry): Promise<void> {
  await writeChunk(out, tarHeader(entry));
  await copyEntryContent(fh, entry, out);
}
