// What the firmware routes share: the form fields they declare (with their bounds), reading the
// machine/distro name and an uploaded file from a form, and the attachment reply digsigserver sends.
import { DaemonError } from '../../../lib/errors.js';
import type { FormFieldSpec, UploadedForm } from '../../../lib/server/multipart-form.js';
import type { HttpReply } from '../../../lib/server/http-service.js';
import { FORM_SHORT_FIELD_BYTES_MAX, FORM_URI_FIELD_BYTES_MAX } from '../firmware-limits.js';
import { validateSelector } from '../keys/key-root.js';

/** machine, hashalg, method, algo, distro, backend. */
export const SHORT_FIELD: FormFieldSpec = { kind: 'text', bytesMax: FORM_SHORT_FIELD_BYTES_MAX };
/** key-uri, artifact-uri. */
export const URI_FIELD: FormFieldSpec = { kind: 'text', bytesMax: FORM_URI_FIELD_BYTES_MAX };

/** A file upload as curl's `-F name=@file` sends it (application/octet-stream). */
export function fileField(bytesMax: number): FormFieldSpec {
  return { kind: 'file', bytesMax, types: ['application/octet-stream'] };
}

/** machine / distro become a directory name under the key root: a plain name, never a path. */
export function selectorField(form: UploadedForm, field: 'machine' | 'distro'): string {
  const value = form.text.get(field);
  if (value === undefined || value === '') throw new DaemonError('BAD_REQUEST', `${field} missing`);
  return validateSelector(value, field);
}

export function uploadedFile(form: UploadedForm, field: string): string {
  const file = form.files.get(field);
  if (!file) throw new DaemonError('BAD_REQUEST', `${field} missing (an application/octet-stream file upload)`);
  return file.path;
}

/** A table lookup that never reaches Object.prototype ('constructor', '__proto__'). */
export function own<T>(table: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

export function attachment(file: string, filename: string): HttpReply {
  return { status: 200, headers: { 'content-type': 'application/octet-stream', 'content-disposition': `Attachment; filename="${filename}"` }, file };
}
