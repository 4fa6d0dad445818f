// Tezos secret keys (edsk/spsk/p2sk, the 64-byte edsk, encrypted edesk/spesk/p2esk) as PKCS#8 private
// keys, so `signerd hsm import --for tezos-tz1|tz2|tz3` can put an octez or seed key into a PKCS#11 token.
// tz4 (BLS12-381) has no PKCS#8 form and no token mechanism: refused. Secret buffers are zeroed after use.
import crypto, { type KeyObject } from 'node:crypto';
import { DaemonError } from '../../../lib/errors.js';
import { rawSigner, type TezosCurve } from './curve-signature.js';
import { isHsmCurve, tezosPublicKey, type HsmCurve } from './hsm-tezos-key.js';
import { encodePublicKey, publicKeyHash } from './key-encoding.js';
import { secretKeyBytes, secretKeyForm } from './secret-key-text.js';

export interface TezosPrivateKey {
  curve: HsmCurve;
  privateKey: KeyObject;
  /** edpk…/sppk…/p2pk… and tz1…/tz2…/tz3…, derived from the secret (and checked against the PKCS#8 key). */
  publicKey: string;
  pkh: string;
}

// PKCS#8 heads before the 32 secret bytes: Ed25519 (RFC 8410) and EC (RFC 5915 without the optional
// public key, which OpenSSL derives from the scalar).
const PKCS8_HEADS: Readonly<Record<HsmCurve, Buffer>> = {
  ed25519: Buffer.from('302e020100300506032b657004220420', 'hex'),
  p256: Buffer.from('3041020100301306072a8648ce3d020106082a8648ce3d030107042730250201010420', 'hex'),
  secp256k1: Buffer.from('303e020100301006072a8648ce3d020106052b8104000a042730250201010420', 'hex'),
};

/** Refuses tz4 with the message an operator needs (CONFIG_INVALID). */
export function refuseBls(curve: TezosCurve): asserts curve is HsmCurve {
  if (!isHsmCurve(curve)) {
    throw new DaemonError(
      'CONFIG_INVALID',
      'BLS keys cannot be held in a PKCS#11 HSM (tz4 has no token mechanism); keep it in a secret key file for signerd tezos',
    );
  }
}

/** A Tezos secret key text as a node:crypto private key, with its Tezos public key and pkh. */
export function tezosPrivateKey(text: string, passphrase?: Buffer): TezosPrivateKey {
  const form = secretKeyForm(text);
  if (form === null) throw new DaemonError('KEY_LOAD_FAILED', 'not a Tezos secret key (expected edsk/spsk/p2sk or an encrypted edesk/spesk/p2esk)');
  const curve = form.curve;
  refuseBls(curve);
  const secret = secretKeyBytes(text, form, passphrase, '--passphrase-file');
  const der = Buffer.concat([PKCS8_HEADS[curve], secret]);
  try {
    let expected: Buffer;
    try {
      expected = rawSigner(curve, secret).publicKey;
    } catch {
      throw new DaemonError('KEY_LOAD_FAILED', `not a valid ${curve} secret key`);
    }
    const privateKey = crypto.createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    // The PKCS#8 key must be the very key octez would sign with: same public key.
    const actual = tezosPublicKey(crypto.createPublicKey(privateKey));
    if (actual.curve !== curve || !actual.bytes.equals(expected))
      throw new DaemonError('KEY_LOAD_FAILED', `the ${curve} key did not convert to the same public key`);
    return { curve, privateKey, publicKey: encodePublicKey(curve, expected), pkh: publicKeyHash(curve, expected) };
  } finally {
    secret.fill(0);
    der.fill(0);
  }
}

/** The PKCS#8 PEM of a Tezos secret key (for tests and for tools that take PEM; the result is a secret). */
export function tezosSecretPem(text: string, passphrase?: Buffer): string {
  return tezosPrivateKey(text, passphrase).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

/** The pkh and b58 public key of a tz1/tz2/tz3 public key (as read back from a token). */
export function tezosKeyNames(publicKey: KeyObject): { pkh: string; publicKey: string } {
  const { curve, bytes } = tezosPublicKey(publicKey);
  return { pkh: publicKeyHash(curve, bytes), publicKey: encodePublicKey(curve, bytes) };
}
