// Finding key objects on a token by label and/or id, and reading a private key's public half as a
// node:crypto KeyObject (RSA from the private object's modulus; EC and EdDSA from the public object).
import { createPublicKey, type KeyObject } from 'node:crypto';
import { DaemonError, type ErrorCode } from '../errors.js';
import { pkcs11js, type Pkcs11Handle } from './pkcs11-module.js';
import type { SessionContext } from './pkcs11-token.js';
import { curveByParams, spkiOfCurvePoint } from './pkcs11-curves.js';

export interface ObjectRef {
  object?: string;
  id?: Buffer;
}

/** CKK_EC_EDWARDS is PKCS#11 3.0; pkcs11js 2.1.7 does not export it. */
export const CKK_EC_EDWARDS = 0x40;

export function findObjects(ctx: SessionContext, template: Array<{ type: number; value: number | boolean | string | Buffer }>, max = 64): Pkcs11Handle[] {
  const { api, session } = ctx;
  api.C_FindObjectsInit(session, template);
  try {
    return api.C_FindObjects(session, max);
  } finally {
    api.C_FindObjectsFinal(session);
  }
}

/**
 * Exactly one object of `objectClass` named by ref, or `missing` (start-up: KEY_LOAD_FAILED; a running
 * daemon's lookup after a reopen: BACKEND_UNAVAILABLE). Two objects are a configuration mistake at
 * start-up; while running, someone changed the token, and it is the backend that is unusable until
 * they undo it (retryable, as the daemon resumes by itself then).
 */
export function findKeyObject(ctx: SessionContext, ref: ObjectRef, objectClass: number, missing: ErrorCode): Pkcs11Handle {
  const P = pkcs11js();
  if (ref.object === undefined && ref.id === undefined)
    throw new DaemonError('CONFIG_INVALID', 'pkcs11 URI: name the key (object=<label> and/or id=<%xx bytes>)');
  const template: Array<{ type: number; value: number | string | Buffer }> = [{ type: P.CKA_CLASS, value: objectClass }];
  if (ref.object !== undefined) template.push({ type: P.CKA_LABEL, value: ref.object });
  if (ref.id !== undefined) template.push({ type: P.CKA_ID, value: ref.id });
  const found = findObjects(ctx, template, 2);
  const what = `${className(objectClass)} ${describeRef(ref)}`;
  if (found.length === 0) throw new DaemonError(missing, `no ${what} on the token (signerd hsm list shows what it holds)`);
  if (found.length > 1)
    throw new DaemonError(missing === 'BACKEND_UNAVAILABLE' ? missing : 'CONFIG_INVALID', `more than one ${what} on the token; ${duplicateHint(ref)}`);
  return found[0]!;
}

export function keyTypeOf(ctx: SessionContext, handle: Pkcs11Handle): number {
  const P = pkcs11js();
  const [attr] = ctx.api.C_GetAttributeValue(ctx.session, handle, [{ type: P.CKA_KEY_TYPE }]);
  return readUlong(attr!.value);
}

/** The public key of a private key object, for verifying every signature before it leaves. */
export function readPublicKey(ctx: SessionContext, privateKey: Pkcs11Handle, ref: ObjectRef, missing: ErrorCode): KeyObject {
  const P = pkcs11js();
  const keyType = keyTypeOf(ctx, privateKey);
  if (keyType === P.CKK_RSA) {
    const [n, e] = ctx.api.C_GetAttributeValue(ctx.session, privateKey, [{ type: P.CKA_MODULUS }, { type: P.CKA_PUBLIC_EXPONENT }]);
    return createPublicKey({ key: { kty: 'RSA', n: b64u(n!.value), e: b64u(e!.value) }, format: 'jwk' });
  }
  if (keyType !== P.CKK_EC && keyType !== CKK_EC_EDWARDS)
    throw new DaemonError('KEY_LOAD_FAILED', `key ${describeRef(ref)} has key type 0x${keyType.toString(16)}, not RSA, EC or EdDSA`);
  // EC private objects carry no point; the public object with the same label/id does.
  const publicKey = findKeyObject(ctx, ref, P.CKO_PUBLIC_KEY, missing);
  const [params, point] = ctx.api.C_GetAttributeValue(ctx.session, publicKey, [{ type: P.CKA_EC_PARAMS }, { type: P.CKA_EC_POINT }]);
  const curve = curveByParams(params!.value);
  if (!curve) throw new DaemonError('KEY_LOAD_FAILED', `key ${describeRef(ref)}: unsupported curve (EC_PARAMS ${params!.value.toString('hex')})`);
  return createPublicKey({ key: spkiOfCurvePoint(curve, point!.value), format: 'der', type: 'spki' });
}

export function readUlong(value: Buffer): number {
  return value.length >= 8 ? Number(value.readBigUInt64LE(0)) : value.readUInt32LE(0);
}

/** What tells two objects apart: the attribute the URI does not give yet, or, with both given, nothing a URI can say. */
function duplicateHint(ref: ObjectRef): string {
  if (ref.id === undefined) return 'add id= to the URI';
  if (ref.object === undefined) return 'add object= to the URI';
  return 'the token holds duplicates (same label and id); remove one (signerd hsm list shows them)';
}

function describeRef(ref: ObjectRef): string {
  const parts: string[] = [];
  if (ref.object !== undefined) parts.push(`object=${ref.object}`);
  if (ref.id !== undefined) parts.push(`id=${ref.id.toString('hex')}`);
  return parts.join(' ');
}

function className(objectClass: number): string {
  const P = pkcs11js();
  if (objectClass === P.CKO_PRIVATE_KEY) return 'private key';
  if (objectClass === P.CKO_PUBLIC_KEY) return 'public key';
  if (objectClass === P.CKO_SECRET_KEY) return 'secret key';
  return `object of class ${objectClass}`;
}

function b64u(bytes: Buffer): string {
  return bytes.toString('base64url');
}
