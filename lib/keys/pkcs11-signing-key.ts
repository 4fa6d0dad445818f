// An HSM-held signing key behind the SigningKey seam: named by a pkcs11: URI, signing through
// pkcs11js' asynchronous C_SignAsync on a pooled session, every signature verified before release.
import { createHash, type KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import { DaemonError } from '../errors.js';
import { PKCS11_REOPEN_INTERVAL_MS, PKCS11_SESSIONS_MAX, SIGNATURE_BYTES_MAX } from '../limits.js';
import type { SigningKey } from './signing-key.js';
import { keyIdOf } from './key-file.js';
import { CURVES } from './pkcs11-curves.js';
import { DIGESTS } from '../crypto/digests.js';
import { rsaKeyTooSmall } from '../crypto/rsa-key-size.js';
import { HSM_SCHEMES, digestOf, normaliseLowS, type HsmAlgorithm, type HsmScheme } from './pkcs11-mechanisms.js';
import { pkcs11js, type Pkcs11Handle } from './pkcs11-module.js';
import { findKeyObject, readPublicKey, type ObjectRef } from './pkcs11-objects.js';
import { readPin } from './pkcs11-pin.js';
import { checkHsmSignature } from './pkcs11-signature-check.js';
import { Pkcs11Token, type SessionContext } from './pkcs11-token.js';
import { describePkcs11Uri, parsePkcs11Uri, type Pkcs11Uri } from './pkcs11-uri.js';

export interface HsmKeyOptions {
  /** Deadline of one HSM call (lib/limits.ts backendCallMsMax). */
  callMsMax: number;
  log?: Logger;
  sessionsMax?: number;
  reopenIntervalMs?: number;
}

export interface HsmSigningKey<A extends HsmAlgorithm = HsmAlgorithm> extends SigningKey<A> {
  /** Signs a digest the caller made (Tezos' BLAKE2b, firmware image hashes); not for ed25519. */
  signDigest(digest: Buffer): Promise<Buffer>;
  close(): Promise<void>;
}

/** Opens the token, finds the key and its public half, and proves both with one test signature. */
export async function openPkcs11SigningKey<A extends HsmAlgorithm>(uriText: string, algorithm: A, opts: HsmKeyOptions): Promise<HsmSigningKey<A>> {
  const uri = parsePkcs11Uri(uriText);
  const scheme = HSM_SCHEMES[algorithm];
  const token = openToken(uri, opts);
  try {
    const ref: ObjectRef = { object: uri.object, id: uri.id };
    const publicKey = token.withSessionSync((ctx) =>
      readPublicKey(ctx, findKeyObject(ctx, ref, pkcs11js().CKO_PRIVATE_KEY, 'KEY_LOAD_FAILED'), ref, 'KEY_LOAD_FAILED'),
    );
    const mismatch = schemeMismatch(scheme, publicKey);
    if (mismatch) throw new DaemonError('KEY_LOAD_FAILED', `${describePkcs11Uri(uri)}: ${mismatch}`);
    const key = hsmSigningKey(algorithm, token, ref, publicKey, opts.log);
    await key.sign(Buffer.from('signerd start-up self-test')).catch((err: unknown) => {
      const e = err as DaemonError;
      throw new DaemonError('KEY_LOAD_FAILED', `${describePkcs11Uri(uri)}: start-up test signature failed (${e.code ?? 'INTERNAL'}: ${e.message})`, {
        cause: err,
      });
    });
    opts.log?.info({ key: describePkcs11Uri(uri), keyId: key.keyId, algorithm }, 'HSM key opened');
    return key;
  } catch (err) {
    await token.close();
    throw err;
  }
}

export function openToken(uri: Pkcs11Uri, opts: HsmKeyOptions, readWrite = false): Pkcs11Token {
  return Pkcs11Token.open({
    modulePath: uri.modulePath,
    // The URI is the selector: its token, slot and library attributes name the token.
    selector: uri,
    pin: readPin(uri.pinSource),
    sessionsMax: opts.sessionsMax ?? PKCS11_SESSIONS_MAX,
    callMsMax: opts.callMsMax,
    reopenIntervalMs: opts.reopenIntervalMs ?? PKCS11_REOPEN_INTERVAL_MS,
    readWrite,
    log: opts.log,
  });
}

function hsmSigningKey<A extends HsmAlgorithm>(
  algorithm: A,
  token: Pkcs11Token,
  ref: ObjectRef,
  publicKey: KeyObject,
  log: Logger | undefined,
): HsmSigningKey<A> {
  const scheme = HSM_SCHEMES[algorithm];
  let cached: { generation: number; handle: Pkcs11Handle } | null = null;
  // Object handles die with a reinitialisation; look the key up again under the new generation.
  const handleFor = (ctx: SessionContext): Pkcs11Handle => {
    if (cached?.generation !== ctx.generation)
      cached = { generation: ctx.generation, handle: findKeyObject(ctx, ref, pkcs11js().CKO_PRIVATE_KEY, 'BACKEND_UNAVAILABLE') };
    return cached.handle;
  };
  async function signInput(checkInput: { message?: Buffer; digest: Buffer }, tokenInput: Buffer): Promise<Buffer> {
    const raw = await token.withSession('sign', async (ctx) => {
      ctx.api.C_SignInit(ctx.session, scheme.mechanism(publicKey), handleFor(ctx));
      return ctx.api.C_SignAsync(ctx.session, tokenInput, Buffer.alloc(SIGNATURE_BYTES_MAX));
    });
    const signature = Buffer.from(scheme.lowS && scheme.key.type === 'ec' ? normaliseLowS(scheme.key.curve, raw) : raw);
    if (!(await checkHsmSignature(algorithm, publicKey, checkInput, signature))) {
      log?.error({ algorithm, digest: createHash('sha256').update(checkInput.digest).digest('hex') }, 'HSM signature did not verify; withheld');
      throw new DaemonError('SIGNATURE_CHECK_FAILED', 'the HSM signature did not verify with the public key; withheld');
    }
    return signature;
  }
  const signDigest = (digest: Buffer, message?: Buffer): Promise<Buffer> => {
    if (scheme.digest === null) return Promise.reject(new DaemonError('BAD_REQUEST', `${algorithm} signs whole messages, not digests`));
    if (digest.length !== DIGESTS[scheme.digest].bytes)
      return Promise.reject(new DaemonError('BAD_REQUEST', `digest must be ${DIGESTS[scheme.digest].bytes} bytes for ${algorithm}`));
    return signInput({ message, digest }, scheme.tokenInput(digest));
  };
  return {
    keyId: keyIdOf(publicKey),
    algorithm,
    publicKey,
    sign: (data) => (scheme.digest === null ? signInput({ message: data, digest: data }, data) : signDigest(digestOf(scheme.digest, data), data)),
    signDigest: (digest) => signDigest(digest),
    close: () => token.close(),
  };
}

/** Why the token's key cannot serve this scheme, or null. */
function schemeMismatch(scheme: HsmScheme, publicKey: KeyObject): string | null {
  const type = publicKey.asymmetricKeyType;
  if (scheme.key.type === 'rsa') return type === 'rsa' ? rsaKeyTooSmall(publicKey) : `expected an RSA key, got ${type}`;
  const curve = CURVES[scheme.key.curve];
  if (curve.edwards) return type === 'ed25519' ? null : `expected an Ed25519 key, got ${type}`;
  const expected = { p256: 'prime256v1', p384: 'secp384r1', secp256k1: 'secp256k1' }[scheme.key.curve as 'p256' | 'p384' | 'secp256k1'];
  const actual = publicKey.asymmetricKeyDetails?.namedCurve;
  return type === 'ec' && actual === expected ? null : `expected an EC ${expected} key, got ${type} ${actual ?? ''}`.trim();
}
