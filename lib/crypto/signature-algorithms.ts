// The signature schemes of the sign/verify daemons, on node:crypto (OpenSSL) with every
// safety-relevant parameter spelled out. Signing runs on libuv's thread pool (async form)
// so one daemon process can use more than one core.
import crypto, { type KeyObject } from 'node:crypto';
import { rsaKeyTooSmall } from './rsa-key-size.js';

export type SignatureAlgorithm = 'rsa-pss-sha256' | 'ecdsa-p384-sha384';

export const isSignatureAlgorithm = (name: string): name is SignatureAlgorithm => name === 'rsa-pss-sha256' || name === 'ecdsa-p384-sha384';

interface Scheme {
  digest: 'sha256' | 'sha384';
  options(key: KeyObject): crypto.SignKeyObjectInput | crypto.VerifyKeyObjectInput;
  /** Why a key does not fit this scheme, or null when it does. */
  keyMismatch(key: KeyObject): string | null;
}

const SCHEMES: Record<SignatureAlgorithm, Scheme> = {
  // RSASSA-PSS, SHA-256, MGF1-SHA-256, salt 32 bytes: exactly what the seed's pycryptodome PSS produced.
  'rsa-pss-sha256': {
    digest: 'sha256',
    options: (key) => ({ key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32, mgf1HashAlgorithm: 'sha256' }) as crypto.SignKeyObjectInput,
    keyMismatch: (key) => (key.asymmetricKeyType === 'rsa' ? rsaKeyTooSmall(key) : `expected an RSA key, got ${key.asymmetricKeyType}`),
  },
  // ECDSA P-384 over SHA-384, raw r‖s (96 bytes) as the seed's pycryptodome 'binary' encoding.
  'ecdsa-p384-sha384': {
    digest: 'sha384',
    options: (key) => ({ key, dsaEncoding: 'ieee-p1363' }),
    keyMismatch: (key) =>
      key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'secp384r1'
        ? null
        : `expected a P-384 EC key, got ${key.asymmetricKeyType} ${key.asymmetricKeyDetails?.namedCurve ?? ''}`.trim(),
  },
};

export function keyMismatch(algorithm: SignatureAlgorithm, key: KeyObject): string | null {
  return SCHEMES[algorithm].keyMismatch(key);
}

export function signAsync(algorithm: SignatureAlgorithm, privateKey: KeyObject, data: Buffer): Promise<Buffer> {
  const scheme = SCHEMES[algorithm];
  return new Promise((resolve, reject) => {
    crypto.sign(scheme.digest, data, scheme.options(privateKey), (err, sig) => (err ? reject(err) : resolve(sig)));
  });
}

/** A malformed or wrong signature is an answer (false), never an exception. */
export function verifyAsync(algorithm: SignatureAlgorithm, publicKey: KeyObject, data: Buffer, signature: Buffer): Promise<boolean> {
  const scheme = SCHEMES[algorithm];
  return new Promise((resolve) => {
    try {
      crypto.verify(scheme.digest, data, scheme.options(publicKey), signature, (err, ok) => resolve(!err && ok));
    } catch {
      resolve(false);
    }
  });
}
