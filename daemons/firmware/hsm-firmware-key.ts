// A firmware key whose private half stays in a PKCS#11 HSM: named in the key root by a small
// `<key file>.pkcs11` reference file, opened once at start-up with one verified HSM handle per scheme
// the signtype needs; on the request path only asynchronous, verified HSM calls.
import fs from 'node:fs';
import type { KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import { DaemonError } from '../../lib/errors.js';
import { findKeyObject, readPublicKey, type ObjectRef } from '../../lib/keys/pkcs11-objects.js';
import type { HsmAlgorithm } from '../../lib/keys/pkcs11-mechanisms.js';
import { openPkcs11SigningKey, openToken, type HsmSigningKey } from '../../lib/keys/pkcs11-signing-key.js';
import { pkcs11js } from '../../lib/keys/pkcs11-module.js';
import { describePkcs11Uri, isPkcs11Uri, parsePkcs11Uri } from '../../lib/keys/pkcs11-uri.js';
import { HSM_REFERENCE_BYTES_MAX } from '../../lib/limits.js';
import { describePublicKey, type FirmwareKey } from './firmware-key.js';

/** What the key root appends to a private key's file name to put an HSM reference in its place. */
export const HSM_REFERENCE_SUFFIX = '.pkcs11';

/** The schemes a firmware key may be asked for; each is opened only when its signtype needs it. */
export type FirmwareHsmScheme = Extract<
  HsmAlgorithm,
  'rsa-pkcs1-sha256' | 'rsa-pkcs1-sha384' | 'rsa-pkcs1-sha512' | 'rsa-pss-sha256' | 'rsa-pss-sha256-max-salt' | 'ecdsa-p256-sha256'
>;

/** The public facts of FirmwareKey (type, bits, sigBytes, keyId, ...) and the HSM in place of the private KeyObject. */
export interface HsmFirmwareKey extends Omit<FirmwareKey, 'privateKey'> {
  readonly holder: 'hsm';
  /** The key's URI without its query (no module path, no PIN source): safe to log. */
  readonly uri: string;
  /** Signs a digest with one of the schemes opened at start-up; verified with the public key before it returns. */
  signDigest(scheme: FirmwareHsmScheme, digest: Buffer): Promise<Buffer>;
  close(): Promise<void>;
}

export interface HsmFirmwareDeps {
  /** Deadline of one HSM call (lib/limits.ts backendCallMsMax). */
  callMsMax: number;
  log?: Logger;
}

/** Reads `<key file>.pkcs11`: one pkcs11: URI line; blank lines and `#` comments are allowed. */
export function readHsmReference(file: string): string {
  let text: string;
  try {
    const stat = fs.statSync(file);
    if (!stat.isFile() || stat.size > HSM_REFERENCE_BYTES_MAX)
      throw new DaemonError('CONFIG_INVALID', `HSM reference ${file}: not a regular file of at most ${HSM_REFERENCE_BYTES_MAX} bytes`);
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof DaemonError) throw err;
    throw new DaemonError('KEY_LOAD_FAILED', `HSM reference ${file}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`, { cause: err });
  }
  const lines = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  if (lines.length !== 1 || !isPkcs11Uri(lines[0]!)) throw new DaemonError('CONFIG_INVALID', `HSM reference ${file}: must hold exactly one pkcs11: URI line`);
  return lines[0]!;
}

/**
 * Opens the HSM key a reference names: reads its public half, lets `schemesFor` pick the schemes
 * (by key type), and opens one verified handle per scheme (each proves itself with a test signature).
 */
export async function openHsmFirmwareKey(
  uriText: string,
  schemesFor: (publicKey: KeyObject) => FirmwareHsmScheme[],
  deps: HsmFirmwareDeps,
): Promise<HsmFirmwareKey> {
  const uri = parsePkcs11Uri(uriText);
  const described = describePkcs11Uri(uri);
  const publicKey = await readHsmPublicKey(uriText, deps);
  const facts = describePublicKey(publicKey);
  const handles = new Map<FirmwareHsmScheme, HsmSigningKey>();
  const close = async (): Promise<void> => {
    await Promise.all([...handles.values()].map((h) => h.close()));
  };
  try {
    for (const scheme of schemesFor(publicKey)) {
      const handle = await openPkcs11SigningKey(uriText, scheme, { callMsMax: deps.callMsMax, log: deps.log });
      handles.set(scheme, handle);
      if (handle.keyId !== facts.keyId) throw new DaemonError('KEY_LOAD_FAILED', `${described}: the key changed while it was opened`);
    }
  } catch (err) {
    await close();
    throw err;
  }
  return {
    holder: 'hsm',
    uri: described,
    publicKey,
    type: facts.type,
    bits: facts.bits,
    curve: facts.curve,
    sigBytes: facts.sigBytes,
    keyId: facts.keyId,
    description: facts.description,
    signDigest: (scheme, digest) => {
      const handle = handles.get(scheme);
      // The facade asks only for schemes it opened for this signtype; anything else is a programming error.
      if (!handle) return Promise.reject(new DaemonError('INTERNAL', `${described}: scheme ${scheme} was not opened for this key`));
      return handle.signDigest(digest);
    },
    close,
  };
}

/** The public half as the daemons read it (RSA from the private object, EC from the public object). */
async function readHsmPublicKey(uriText: string, deps: HsmFirmwareDeps): Promise<KeyObject> {
  const uri = parsePkcs11Uri(uriText);
  const ref: ObjectRef = { object: uri.object, id: uri.id };
  const token = openToken(uri, { callMsMax: deps.callMsMax, sessionsMax: 1 });
  try {
    return token.withSessionSync((ctx) => readPublicKey(ctx, findKeyObject(ctx, ref, pkcs11js().CKO_PRIVATE_KEY, 'KEY_LOAD_FAILED'), ref, 'KEY_LOAD_FAILED'));
  } finally {
    await token.close();
  }
}
