// A Tezos signing key (tz1 Ed25519, tz2 secp256k1, tz3 P-256, tz4 BLS12-381) loaded from octez's
// b58 secret forms; every signature is checked against the public key before it is handed out.
import { DaemonError } from '../../../lib/errors.js';
import { b58checkEncode } from './base58check.js';
import { blsProvePossession, blsVerifyPossession, blsVerifyPossessionBy } from './bls-signature.js';
import { randomSecret, rawSigner, rawVerify, type TezosCurve } from './curve-signature.js';
import { CURVE_NAMES, decodePublicKey, decodeSignature, encodePublicKey, encodeSignature, publicKeyHash } from './key-encoding.js';
import { secretKeyBytes, secretKeyForm } from './secret-key-text.js';

export interface TezosKey {
  readonly pkh: string;
  /** edpk…/sppk…/p2pk…/BLpk… */
  readonly publicKey: string;
  readonly curve: TezosCurve;
  /** Signs the request bytes exactly as octez does and verifies the result before returning it (b58). */
  sign(payload: Buffer, opts?: { version?: number }): Promise<string>;
  /** tz4 only: BLS proof of possession, b58 BLsig; octez's `bls_pk` override signs that key's bytes instead. */
  provePossession?(overridePublicKey?: string): Promise<string>;
}

/** Loads edsk/spsk/p2sk/BLsk (and 64-byte edsk) or, with a passphrase, edesk/spesk/p2esk/BLesk. */
export function loadTezosKey(secret: string, passphrase?: Buffer): TezosKey {
  const text = secret.trim();
  const form = secretKeyForm(text);
  if (form === null) throw new DaemonError('KEY_LOAD_FAILED', 'not a Tezos secret key (expected edsk/spsk/p2sk/BLsk or an encrypted form)');
  const bytes = secretKeyBytes(text, form, passphrase, 'a passphrase file');
  try {
    return keyFromSecret(form.curve, bytes);
  } finally {
    bytes.fill(0);
  }
}

export function generateTezosKey(curve: TezosCurve): { secretKey: string; key: TezosKey } {
  const secret = randomSecret(curve);
  try {
    return { secretKey: b58checkEncode(CURVE_NAMES[curve].sk, secret), key: keyFromSecret(curve, secret) };
  } finally {
    secret.fill(0);
  }
}

/** False for any malformed key or signature; `version` picks the tz4 scheme (0/1 AUG, else POP). */
export function verifyTezosSignature(publicKey: string, payload: Buffer, signature: string, opts?: { version?: number }): boolean {
  const pk = decodePublicKey(publicKey);
  if (pk === null) return false;
  const sig = decodeSignature(pk.curve, signature);
  if (sig === null) return false;
  return rawVerify(pk.curve, pk.bytes, payload, sig, opts?.version);
}

/** Checks a tz4 proof of possession (BLsig over the key's own compressed public key). */
export function verifyProofOfPossession(publicKey: string, proof: string): boolean {
  const pk = decodePublicKey(publicKey);
  if (pk === null || pk.curve !== 'bls12-381') return false;
  const sig = decodeSignature('bls12-381', proof);
  return sig !== null && blsVerifyPossession(pk.bytes, sig);
}

function keyFromSecret(curve: TezosCurve, secret: Buffer): TezosKey {
  let signer: ReturnType<typeof rawSigner>;
  try {
    signer = rawSigner(curve, secret);
  } catch {
    throw new DaemonError('KEY_LOAD_FAILED', `not a valid ${curve} secret key`);
  }
  const bls = curve === 'bls12-381' ? Buffer.from(secret) : null;
  const key: TezosKey = {
    pkh: publicKeyHash(curve, signer.publicKey),
    publicKey: encodePublicKey(curve, signer.publicKey),
    curve,
    async sign(payload, opts) {
      const version = opts?.version;
      const signature = signer.sign(payload, version);
      if (!signer.verify(payload, signature, version)) {
        throw new DaemonError('SIGNATURE_CHECK_FAILED', `the ${curve} signature did not verify with ${key.pkh}; withheld`);
      }
      return encodeSignature(curve, signature);
    },
  };
  if (bls === null) return key;
  return {
    ...key,
    async provePossession(overridePublicKey) {
      const provenBytes = overridePublicKey === undefined ? signer.publicKey : blsKeyBytes(overridePublicKey);
      const proof = blsProvePossession(bls, provenBytes);
      if (!blsVerifyPossessionBy(signer.publicKey, provenBytes, proof)) {
        throw new DaemonError('SIGNATURE_CHECK_FAILED', `the proof of possession did not verify with ${key.pkh}; withheld`);
      }
      return encodeSignature(curve, proof);
    },
  };
}

function blsKeyBytes(publicKey: string): Buffer {
  const pk = decodePublicKey(publicKey);
  if (pk === null || pk.curve !== 'bls12-381') throw new DaemonError('BAD_REQUEST', 'bls_pk is not a BLS public key (BLpk…)');
  return pk.bytes;
}
