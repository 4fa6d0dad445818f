// A firmware key whose private half stays in a PKCS#11 HSM: the HSM backend of the key seam. Named
// in the key root by a small `<key file>.pkcs11` reference, opened once at start-up with one verified
// HSM handle per scheme its slot signs with; on the request path only asynchronous HSM calls.
import path from 'node:path';
import type { KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import type { DigestScheme } from '../../../lib/crypto/digest-schemes.js';
import { DaemonError } from '../../../lib/errors.js';
import { readCheckedFile, TRUSTED_MODE_CHECK } from '../../../lib/keys/key-file.js';
import type { HsmAlgorithm } from '../../../lib/keys/pkcs11-mechanisms.js';
import { findKeyObject, readPublicKey, type ObjectRef } from '../../../lib/keys/pkcs11-objects.js';
import { pkcs11js } from '../../../lib/keys/pkcs11-module.js';
import { openPkcs11SigningKey, openToken, type HsmSigningKey } from '../../../lib/keys/pkcs11-signing-key.js';
import { describePkcs11Uri, isPkcs11Uri, parsePkcs11Uri } from '../../../lib/keys/pkcs11-uri.js';
import { HSM_REFERENCE_BYTES_MAX } from '../firmware-limits.js';
import type { DigestSigner } from '../formats/digest-signer.js';
import { loadCertificate } from './certificate.js';
import { checkedSigner } from './checked-signer.js';
import { describePublicKey, type KeyFacts } from './key-facts.js';
import { slotMismatch, SLOTS, type SlotPlan } from './key-slots.js';

/** What the key root appends to a private key's file name to put an HSM reference in its place. */
export const HSM_REFERENCE_SUFFIX = '.pkcs11';

export interface HsmKeyDeps {
  /** Deadline of one HSM call (lib/limits.ts backendCallMsMax). */
  callMsMax: number;
  log?: Logger;
}

/** The HSM mechanism of each scheme; ECDSA through an HSM is P-256 (the key root refuses other curves there). */
const HSM_ALGORITHM: Record<DigestScheme, HsmAlgorithm> = {
  'rsa-pkcs1-sha256': 'rsa-pkcs1-sha256',
  'rsa-pkcs1-sha384': 'rsa-pkcs1-sha384',
  'rsa-pkcs1-sha512': 'rsa-pkcs1-sha512',
  'rsa-pss-sha256': 'rsa-pss-sha256',
  'rsa-pss-sha256-max-salt': 'rsa-pss-sha256-max-salt',
  'ecdsa-sha256': 'ecdsa-p256-sha256',
};

/** A slot's key opened in its HSM, and how to let go of its sessions. */
export interface OpenedHsmKey {
  readonly signer: DigestSigner;
  close(): Promise<void>;
}

/**
 * Opens the key a slot's `.pkcs11` reference names: reads its public half, refuses a key that does
 * not fit the slot (or its certificate), and opens one verified handle per scheme the slot needs
 * (each proves itself with a test signature).
 */
export async function openHsmSigner(plan: SlotPlan, deps: HsmKeyDeps): Promise<OpenedHsmKey> {
  const reference = plan.keyFile + HSM_REFERENCE_SUFFIX;
  const uriText = readHsmReference(reference);
  const described = describePkcs11Uri(parsePkcs11Uri(uriText));
  const publicKey = await readHsmPublicKey(uriText, deps);
  const facts = describePublicKey(publicKey);
  const mismatch = slotMismatch(plan.slot, facts);
  if (mismatch !== null || facts.type === 'other') throw new DaemonError('KEY_LOAD_FAILED', `${reference}: ${mismatch}`);
  if (facts.type === 'ec' && facts.curve !== 'prime256v1')
    throw new DaemonError('KEY_LOAD_FAILED', `${reference}: HSM-held EC keys must be P-256 (got ${facts.description}); keep this key in a file`);
  const certificate = plan.certFile ? loadCertificate(plan.certFile) : null;
  if (certificate && !spki(certificate.x509.publicKey).equals(spki(publicKey))) {
    throw new DaemonError('KEY_LOAD_FAILED', `${reference}: the HSM key does not match certificate ${path.basename(plan.certFile!)}`);
  }
  const handles = new Map<DigestScheme, HsmSigningKey>();
  const close = async (): Promise<void> => {
    await Promise.all([...handles.values()].map((h) => h.close()));
  };
  try {
    for (const scheme of SLOTS[plan.slot].schemes[facts.type]) {
      const handle = await openPkcs11SigningKey(uriText, HSM_ALGORITHM[scheme], { callMsMax: deps.callMsMax, log: deps.log });
      handles.set(scheme, handle);
      if (handle.keyId !== facts.keyId) throw new DaemonError('KEY_LOAD_FAILED', `${described}: the key changed while it was opened`);
    }
  } catch (err) {
    await close();
    throw err;
  }
  deps.log?.info({ slot: plan.slot, selector: plan.selector, key: described, keyId: facts.keyId }, 'firmware key held in an HSM');
  return { signer: hsmSigner(facts, certificate, handles, described), close };
}

function hsmSigner(facts: KeyFacts, certificate: DigestSigner['certificate'], handles: Map<DigestScheme, HsmSigningKey>, described: string): DigestSigner {
  const handleFor = (scheme: DigestScheme): HsmSigningKey => {
    const handle = handles.get(scheme);
    // Formats ask only for the schemes their slot lists; anything else is a programming error.
    if (!handle) throw new DaemonError('INTERNAL', `${described}: scheme ${scheme} was not opened for this key`);
    return handle;
  };
  return checkedSigner(facts, certificate, {
    signDigest: async (scheme, digest) => handleFor(scheme).signDigest(digest),
    signMessage: async (scheme, message) => handleFor(scheme).sign(message),
  });
}

/** Reads `<key file>.pkcs11`: one pkcs11: URI line; blank lines and `#` comments are allowed. */
function readHsmReference(file: string): string {
  // Trusted as a key is: whoever could rewrite or swap it would choose the key that signs.
  const text = readCheckedFile(file, 'HSM reference', TRUSTED_MODE_CHECK, HSM_REFERENCE_BYTES_MAX).data.toString('utf8');
  const lines = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  if (lines.length !== 1 || !isPkcs11Uri(lines[0]!)) throw new DaemonError('CONFIG_INVALID', `HSM reference ${file}: must hold exactly one pkcs11: URI line`);
  return lines[0]!;
}

/** The public half as the daemons read it (RSA from the private object, EC from the public object). */
async function readHsmPublicKey(uriText: string, deps: HsmKeyDeps): Promise<KeyObject> {
  const uri = parsePkcs11Uri(uriText);
  const ref: ObjectRef = { object: uri.object, id: uri.id };
  const token = openToken(uri, { callMsMax: deps.callMsMax, sessionsMax: 1 });
  try {
    return token.withSessionSync((ctx) => readPublicKey(ctx, findKeyObject(ctx, ref, pkcs11js().CKO_PRIVATE_KEY, 'KEY_LOAD_FAILED'), ref, 'KEY_LOAD_FAILED'));
  } finally {
    await token.close();
  }
}

function spki(key: KeyObject): Buffer {
  return key.export({ type: 'spki', format: 'der' });
}
