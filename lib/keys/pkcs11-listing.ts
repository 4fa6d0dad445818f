// What `signerd hsm list` shows: every key object on a token with its class, type, size or curve,
// label and id. Attributes a token does not have are shown as empty rather than failing the listing.
import { pkcs11js, type Pkcs11Handle } from './pkcs11-module.js';
import { CKK_EC_EDWARDS, findObjects, readUlong } from './pkcs11-objects.js';
import { curveByParams } from './pkcs11-curves.js';
import type { SessionContext } from './pkcs11-token.js';

export interface ListedObject {
  objectClass: 'private-key' | 'public-key' | 'secret-key';
  uriType: 'private' | 'public' | 'secret-key';
  keyType: string;
  label: string;
  id: Buffer;
}

/** Key objects visible to the logged-in user, sorted by label then class. */
export function listObjects(ctx: SessionContext): ListedObject[] {
  const P = pkcs11js();
  const classes: Array<[number, ListedObject['objectClass'], ListedObject['uriType']]> = [
    [P.CKO_PRIVATE_KEY, 'private-key', 'private'],
    [P.CKO_PUBLIC_KEY, 'public-key', 'public'],
    [P.CKO_SECRET_KEY, 'secret-key', 'secret-key'],
  ];
  const out: ListedObject[] = [];
  for (const [cls, objectClass, uriType] of classes) {
    for (const handle of findObjects(ctx, [{ type: P.CKA_CLASS, value: cls }], 1024)) {
      out.push({
        objectClass,
        uriType,
        keyType: describeKeyType(ctx, handle),
        label: attr(ctx, handle, P.CKA_LABEL)?.toString('utf8') ?? '',
        id: attr(ctx, handle, P.CKA_ID) ?? Buffer.alloc(0),
      });
    }
  }
  return out.sort((a, b) => a.label.localeCompare(b.label) || a.objectClass.localeCompare(b.objectClass));
}

function describeKeyType(ctx: SessionContext, handle: Pkcs11Handle): string {
  const P = pkcs11js();
  const typeBytes = attr(ctx, handle, P.CKA_KEY_TYPE);
  const type = typeBytes ? readUlong(typeBytes) : -1;
  if (type === P.CKK_RSA) {
    const modulus = attr(ctx, handle, P.CKA_MODULUS);
    return modulus ? `rsa-${modulus.length * 8}` : 'rsa';
  }
  if (type === P.CKK_EC || type === CKK_EC_EDWARDS) {
    const params = attr(ctx, handle, P.CKA_EC_PARAMS);
    return (params && curveByParams(params)?.name) || 'ec';
  }
  if (type === P.CKK_GENERIC_SECRET || type === P.CKK_SHA256_HMAC) {
    const length = attr(ctx, handle, P.CKA_VALUE_LEN);
    return length ? `hmac-secret-${readUlong(length)}` : 'hmac-secret';
  }
  return `type-0x${type.toString(16)}`;
}

function attr(ctx: SessionContext, handle: Pkcs11Handle, type: number): Buffer | null {
  try {
    const [value] = ctx.api.C_GetAttributeValue(ctx.session, handle, [{ type }]);
    return value?.value ?? null;
  } catch {
    return null;
  }
}
