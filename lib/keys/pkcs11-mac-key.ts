// An HMAC-SHA256 secret held in an HSM (CKM_SHA256_HMAC on a generic secret): for the hmac daemon.
// Every tag is checked by the token (C_Verify) before release; verification compares in constant time.
import { timingSafeEqual } from 'node:crypto';
import { DaemonError } from '../errors.js';
import { findKeyObject, keyTypeOf, type ObjectRef } from './pkcs11-objects.js';
import { pkcs11js, type Pkcs11Handle } from './pkcs11-module.js';
import { openToken, type HsmKeyOptions } from './pkcs11-signing-key.js';
import type { Pkcs11Token, SessionContext } from './pkcs11-token.js';
import { describePkcs11Uri, parsePkcs11Uri } from './pkcs11-uri.js';

export interface HsmMacKey {
  /** CKA_ID in hex when the object has one in the URI, else its label: a secret has no public id. */
  readonly keyId: string;
  readonly algorithm: 'hmac-sha256';
  mac(data: Buffer): Promise<Buffer>;
  /** A wrong tag is an answer (false), never an error. */
  verify(data: Buffer, tag: Buffer): Promise<boolean>;
  close(): Promise<void>;
}

const TAG_BYTES = 32;
/** MACed once per lookup of the secret: what tells the secret opened from another under its label. */
const IDENTITY_MESSAGE = Buffer.from('signerd hmac secret identity');

export async function openPkcs11MacKey(uriText: string, opts: HsmKeyOptions): Promise<HsmMacKey> {
  const uri = parsePkcs11Uri(uriText);
  const ref: ObjectRef = { object: uri.object, id: uri.id };
  const token = openToken(uri, opts);
  try {
    checkHmacKeyObject(token, ref, describePkcs11Uri(uri));
  } catch (err) {
    await token.close();
    throw err;
  }
  const mac = tokenHmac(token, ref);
  return {
    keyId: uri.id ? uri.id.toString('hex') : (uri.object ?? ''),
    algorithm: 'hmac-sha256',
    mac,
    verify: async (data, tag) => {
      const expected = await mac(data);
      return tag.length === expected.length && timingSafeEqual(tag, expected);
    },
    close: () => token.close(),
  };
}

/** Refuses (KEY_LOAD_FAILED) unless `ref` names a generic secret or HMAC key on the token; `name` is for the message. */
export function checkHmacKeyObject(token: Pkcs11Token, ref: ObjectRef, name: string): void {
  token.withSessionSync((ctx) => {
    const P = pkcs11js();
    const type = keyTypeOf(ctx, findKeyObject(ctx, ref, P.CKO_SECRET_KEY, 'KEY_LOAD_FAILED'));
    if (type !== P.CKK_GENERIC_SECRET && type !== P.CKK_SHA256_HMAC) throw new DaemonError('KEY_LOAD_FAILED', `${name}: not a generic secret or HMAC key`);
  });
}

/**
 * HMAC-SHA256 in the token with one secret-key object; every tag is checked by the token (C_Verify)
 * before release. A secret has no public half to check against, so the object found after a reopen
 * must give the MAC of a fixed message the first one gave: a different secret put under the same
 * label (another token, a re-import) is never used, only taken by a reload (SIGHUP) or a restart.
 */
export function tokenHmac(token: Pkcs11Token, ref: ObjectRef): (data: Buffer) => Promise<Buffer> {
  let cached: { generation: number; handle: Pkcs11Handle } | null = null;
  let identity: Buffer | null = null;
  // Object handles die with a reinitialisation; look the key up again under the new generation.
  const handleFor = (ctx: SessionContext): Pkcs11Handle => {
    if (cached?.generation === ctx.generation) return cached.handle;
    const handle = findKeyObject(ctx, ref, pkcs11js().CKO_SECRET_KEY, 'BACKEND_UNAVAILABLE');
    ctx.api.C_SignInit(ctx.session, { mechanism: pkcs11js().CKM_SHA256_HMAC }, handle);
    const seen = Buffer.from(ctx.api.C_Sign(ctx.session, IDENTITY_MESSAGE, Buffer.alloc(TAG_BYTES)));
    identity ??= seen;
    if (!timingSafeEqual(seen, identity))
      throw new DaemonError(
        'BACKEND_UNAVAILABLE',
        'a different secret is under that label since the token was reopened; not used (SIGHUP or restart to take it)',
      );
    cached = { generation: ctx.generation, handle };
    return handle;
  };
  return (data) =>
    token.withSession('hmac', async (ctx) => {
      const mechanism = { mechanism: pkcs11js().CKM_SHA256_HMAC };
      const key = handleFor(ctx);
      ctx.api.C_SignInit(ctx.session, mechanism, key);
      const tag = Buffer.from(await ctx.api.C_SignAsync(ctx.session, data, Buffer.alloc(TAG_BYTES)));
      ctx.api.C_VerifyInit(ctx.session, mechanism, key);
      const ok = await ctx.api.C_VerifyAsync(ctx.session, data, tag);
      if (!ok) throw new DaemonError('SIGNATURE_CHECK_FAILED', 'the HSM HMAC tag did not verify; withheld');
      return tag;
    });
}
