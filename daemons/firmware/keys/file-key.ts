// A firmware key held in memory, read from its PEM file in the key root (mode 0600 or stricter):
// the file backend of the key seam. Its certificate, when the slot has one, must name this key.
import { createPublicKey, type KeyObject } from 'node:crypto';
import path from 'node:path';
import { signDigestWithKey, signMessageWithKey } from '../../../lib/crypto/digest-schemes.js';
import { DaemonError } from '../../../lib/errors.js';
import { loadPrivateKeyFile } from '../../../lib/keys/key-file.js';
import type { DigestSigner } from '../formats/digest-signer.js';
import { loadCertificate, type SigningCertificate } from './certificate.js';
import { checkedSigner } from './checked-signer.js';
import { describePublicKey, type KeyFacts } from './key-facts.js';
import { slotMismatch, type SlotPlan } from './key-slots.js';

/** Reads a slot's key file (and certificate); KEY_FILE_INSECURE, KEY_LOAD_FAILED when it is unsafe, unreadable or does not fit. */
export function loadFileSigner(plan: SlotPlan): DigestSigner {
  const privateKey = loadPrivateKeyFile(plan.keyFile);
  const facts = describePublicKey(createPublicKey(privateKey));
  const mismatch = slotMismatch(plan.slot, facts);
  if (mismatch !== null || facts.type === 'other') throw new DaemonError('KEY_LOAD_FAILED', `private key ${plan.keyFile}: ${mismatch}`);
  const certificate = plan.certFile ? loadCertificate(plan.certFile) : null;
  if (certificate && !certificate.x509.checkPrivateKey(privateKey)) {
    throw new DaemonError('KEY_LOAD_FAILED', `${plan.keyFile}: private key does not match certificate ${path.basename(plan.certFile!)}`);
  }
  return fileSigner(privateKey, facts, certificate);
}

/** The key seam over an in-memory private key: digests signed on this thread, messages on libuv's pool; both checked. */
export function fileSigner(privateKey: KeyObject, facts: KeyFacts, certificate: SigningCertificate | null): DigestSigner {
  return checkedSigner(facts, certificate, {
    signDigest: async (scheme, digest) => signDigestWithKey(scheme, privateKey, digest),
    signMessage: (scheme, message) => signMessageWithKey(scheme, privateKey, message),
  });
}
