// Putting keys into a token for each daemon: generation inside the token (preferred: the private half
// never exists outside it) and import of an existing PEM key or HMAC secret. Private halves are always
// sensitive and non-extractable; EC keys get a public object beside them (signerd reads points from it).
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import type { Template } from 'pkcs11js';
import { DaemonError } from '../errors.js';
import { rsaKeyTooSmall } from '../crypto/rsa-key-size.js';
import { CURVES, wrapPoint, type CurveName } from './pkcs11-curves.js';
import { CKM_EC_EDWARDS_KEY_PAIR_GEN } from './pkcs11-mechanisms.js';
import { pkcs11js } from './pkcs11-module.js';
import { CKK_EC_EDWARDS } from './pkcs11-objects.js';
import type { SessionContext } from './pkcs11-token.js';

export type KeySpec = { kind: 'rsa'; bits: number } | { kind: 'ec'; curve: CurveName } | { kind: 'hmac'; bytes: number };

/** Which key each daemon signs with. */
export const DAEMON_KEY_SPECS: Readonly<Record<string, KeySpec>> = {
  'sign-rsa': { kind: 'rsa', bits: 2048 },
  'sign-ecdsa': { kind: 'ec', curve: 'p384' },
  firmware: { kind: 'rsa', bits: 3072 },
  mender: { kind: 'ec', curve: 'p256' },
  'tezos-tz1': { kind: 'ec', curve: 'ed25519' },
  'tezos-tz2': { kind: 'ec', curve: 'secp256k1' },
  'tezos-tz3': { kind: 'ec', curve: 'p256' },
  hmac: { kind: 'hmac', bytes: 32 },
  'transparency-log': { kind: 'ec', curve: 'ed25519' },
};

export interface KeyName {
  label: string;
  id: Buffer;
}

type Attrs = Template;

function common(name: KeyName): Attrs {
  const P = pkcs11js();
  return [
    { type: P.CKA_TOKEN, value: true },
    { type: P.CKA_LABEL, value: name.label },
    { type: P.CKA_ID, value: name.id },
  ];
}

function privateAttrs(name: KeyName): Attrs {
  const P = pkcs11js();
  return [
    ...common(name),
    { type: P.CKA_PRIVATE, value: true },
    { type: P.CKA_SENSITIVE, value: true },
    { type: P.CKA_EXTRACTABLE, value: false },
    { type: P.CKA_SIGN, value: true },
  ];
}

/** Generates the key inside the token; returns its public half (null for HMAC secrets). */
export function generateKey(ctx: SessionContext, spec: KeySpec, name: KeyName): KeyObject | null {
  const P = pkcs11js();
  const { api, session } = ctx;
  const publicTemplate = [...common(name), { type: P.CKA_VERIFY, value: true }];
  if (spec.kind === 'hmac') {
    api.C_GenerateKey(session, { mechanism: P.CKM_GENERIC_SECRET_KEY_GEN }, [
      ...privateAttrs(name),
      { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY },
      { type: P.CKA_KEY_TYPE, value: P.CKK_GENERIC_SECRET },
      { type: P.CKA_VALUE_LEN, value: spec.bytes },
      { type: P.CKA_VERIFY, value: true },
    ]);
    return null;
  }
  if (spec.kind === 'rsa') {
    const pair = api.C_GenerateKeyPair(
      session,
      { mechanism: P.CKM_RSA_PKCS_KEY_PAIR_GEN },
      [...publicTemplate, { type: P.CKA_MODULUS_BITS, value: spec.bits }, { type: P.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) }],
      privateAttrs(name),
    );
    const [n, e] = api.C_GetAttributeValue(session, pair.publicKey, [{ type: P.CKA_MODULUS }, { type: P.CKA_PUBLIC_EXPONENT }]);
    return createPublicKey({ key: { kty: 'RSA', n: n!.value.toString('base64url'), e: e!.value.toString('base64url') }, format: 'jwk' });
  }
  const curve = CURVES[spec.curve];
  const mechanism = curve.edwards ? CKM_EC_EDWARDS_KEY_PAIR_GEN : P.CKM_EC_KEY_PAIR_GEN;
  api.C_GenerateKeyPair(session, { mechanism }, [...publicTemplate, { type: P.CKA_EC_PARAMS, value: curve.params }], privateAttrs(name));
  return null; // The caller reads the public key back the way daemons do (pkcs11-objects.ts).
}

/** Imports a PEM (or already parsed) private key (RSA, EC, Ed25519) as a sensitive private object plus its public object. */
export function importPrivateKey(ctx: SessionContext, spec: KeySpec, pem: Buffer | KeyObject, name: KeyName): KeyObject {
  const P = pkcs11js();
  let privateKey: KeyObject;
  try {
    privateKey = Buffer.isBuffer(pem) ? createPrivateKey({ key: pem }) : pem;
  } catch (err) {
    throw new DaemonError('KEY_LOAD_FAILED', `not a readable PEM private key (${(err as Error).message})`, { cause: err });
  }
  const jwk = privateKey.export({ format: 'jwk' });
  const b = (field: string | undefined): Buffer => Buffer.from(field ?? '', 'base64url');
  const publicKey = createPublicKey(privateKey);
  if (spec.kind === 'rsa') {
    if (jwk.kty !== 'RSA') throw new DaemonError('KEY_LOAD_FAILED', `expected an RSA key, got ${privateKey.asymmetricKeyType}`);
    const tooSmall = rsaKeyTooSmall(publicKey);
    if (tooSmall) throw new DaemonError('KEY_LOAD_FAILED', tooSmall);
    const material = [
      [P.CKA_MODULUS, jwk.n],
      [P.CKA_PUBLIC_EXPONENT, jwk.e],
      [P.CKA_PRIVATE_EXPONENT, jwk.d],
      [P.CKA_PRIME_1, jwk.p],
      [P.CKA_PRIME_2, jwk.q],
      [P.CKA_EXPONENT_1, jwk.dp],
      [P.CKA_EXPONENT_2, jwk.dq],
      [P.CKA_COEFFICIENT, jwk.qi],
    ].map(([type, value]) => ({ type: type as number, value: b(value as string) }));
    ctx.api.C_CreateObject(ctx.session, [
      { type: P.CKA_CLASS, value: P.CKO_PRIVATE_KEY },
      { type: P.CKA_KEY_TYPE, value: P.CKK_RSA },
      ...privateAttrs(name),
      ...material,
    ]);
    ctx.api.C_CreateObject(ctx.session, [
      { type: P.CKA_CLASS, value: P.CKO_PUBLIC_KEY },
      { type: P.CKA_KEY_TYPE, value: P.CKK_RSA },
      ...common(name),
      { type: P.CKA_VERIFY, value: true },
      ...material.slice(0, 2),
    ]);
    return publicKey;
  }
  if (spec.kind !== 'ec') throw new DaemonError('CONFIG_INVALID', 'HMAC secrets are imported with importSecret');
  const curve = CURVES[spec.curve];
  const point = curve.edwards ? b(jwk.x) : Buffer.concat([Buffer.from([4]), b(jwk.x), b(jwk.y)]);
  const expected = curve.edwards ? 'ed25519' : 'ec';
  if (privateKey.asymmetricKeyType !== expected || point.length !== (curve.edwards ? 32 : 1 + 2 * curve.fieldBytes)) {
    throw new DaemonError(
      'KEY_LOAD_FAILED',
      `expected a ${spec.curve} key, got ${privateKey.asymmetricKeyType} ${privateKey.asymmetricKeyDetails?.namedCurve ?? ''}`.trim(),
    );
  }
  const keyType = curve.edwards ? CKK_EC_EDWARDS : P.CKK_EC;
  const shared = [
    { type: P.CKA_KEY_TYPE, value: keyType },
    { type: P.CKA_EC_PARAMS, value: curve.params },
  ];
  ctx.api.C_CreateObject(ctx.session, [
    { type: P.CKA_CLASS, value: P.CKO_PRIVATE_KEY },
    ...shared,
    ...privateAttrs(name),
    { type: P.CKA_VALUE, value: b(jwk.d) },
  ]);
  ctx.api.C_CreateObject(ctx.session, [
    { type: P.CKA_CLASS, value: P.CKO_PUBLIC_KEY },
    ...shared,
    ...common(name),
    { type: P.CKA_VERIFY, value: true },
    { type: P.CKA_EC_POINT, value: wrapPoint(point) },
  ]);
  return publicKey;
}

/** Imports raw HMAC secret bytes as a sensitive generic secret that can sign and verify. */
export function importSecret(ctx: SessionContext, secret: Buffer, name: KeyName): void {
  const P = pkcs11js();
  if (secret.length < 16) throw new DaemonError('KEY_LOAD_FAILED', 'HMAC secret shorter than 16 bytes');
  ctx.api.C_CreateObject(ctx.session, [
    { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY },
    { type: P.CKA_KEY_TYPE, value: P.CKK_GENERIC_SECRET },
    ...privateAttrs(name),
    { type: P.CKA_VERIFY, value: true },
    { type: P.CKA_VALUE, value: secret },
  ]);
}
