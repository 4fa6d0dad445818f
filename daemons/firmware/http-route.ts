// What a firmware HTTP route is (its form fields and its work), what it may use (the signing
// core, limits, a private directory), and the small form helpers every route shares.
import { DaemonError } from '../../lib/errors.js';
import type { FieldSpec, Form } from './http-multipart.js';
import type { FirmwareHttpLimits } from '../../lib/limits.js';
import type { TrustedApp } from './http-optee.js';
import { validateSelector } from './key-root.js';
import type { KeySlot } from './firmware-signer.js';

type ModuleHashAlg = 'sha256' | 'sha384' | 'sha512';
export type SwupdateMethod = 'RSA' | 'RSA-PSS' | 'CMS';
export type TaAlgorithm = 'PSS' | 'PKCS1';

/** What the HTTP front end needs from the signing core; every result is verified before it is returned. */
export interface FirmwareHttpCore {
  /** Throws UNKNOWN_KEY (BAD_REQUEST for a bad name) unless the key exists, so a request fails before any unpacking. */
  requireKey(slot: KeySlot, selector: string): void;
  /** The module with PKCS#7 blob, trailer and magic appended (sign-file's output), key `<machine>/kmodsign`. */
  signModule(machine: string, hashalg: ModuleHashAlg, module: Buffer): Promise<Buffer>;
  /** sw-description.sig bytes, key `<distro>/swupdate`. */
  signSwDescription(distro: string, method: SwupdateMethod, swDescription: Buffer): Promise<Buffer>;
  /** The base64 text of manifest.sig, key `<distro>/mender`. */
  signMenderManifest(distro: string, manifest: Buffer): Promise<string>;
  /** The signed `.ta` file (bootstrap TA), key `<machine>/opteesign`. */
  signTrustedApp(machine: string, algo: TaAlgorithm, ta: TrustedApp): Promise<Buffer>;
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** Streamed as the body when set (a file in the request's directory). */
  file?: string;
}

export interface RouteContext {
  core: FirmwareHttpCore;
  limits: FirmwareHttpLimits;
  menderArtifactRoot: string | null;
  /** The request's private directory; removed after the reply. */
  dir: string;
  /** Extra fields for the request's one log line. */
  fields: Record<string, unknown>;
}

export interface Route {
  fields(limits: FirmwareHttpLimits): Record<string, FieldSpec>;
  run(form: Form, ctx: RouteContext): Promise<Reply>;
}

/** machine / distro become a directory name under the key root: a plain name, never a path. */
export function selectorField(form: Form, field: 'machine' | 'distro'): string {
  const value = form.text.get(field);
  if (value === undefined || value === '') throw new DaemonError('BAD_REQUEST', `${field} missing`);
  return validateSelector(value, field);
}

export function uploadedFile(form: Form, field: string): string {
  const file = form.files.get(field);
  if (!file) throw new DaemonError('BAD_REQUEST', `${field} missing (an application/octet-stream file upload)`);
  return file.path;
}

export function attachment(file: string, filename: string): Reply {
  return { status: 200, headers: { 'content-type': 'application/octet-stream', 'content-disposition': `Attachment; filename="${filename}"` }, file };
}
