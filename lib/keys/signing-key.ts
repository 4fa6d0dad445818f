// The signing-key seam: a daemon holds a SigningKey and never knows whether the private half
// lives in a file (here) or in an HSM (keys/pkcs11-*.ts). Both return the same encodings.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { DaemonError } from '../errors.js';
import { keyMismatch, signAsync, type SignatureAlgorithm } from '../crypto/signature-algorithms.js';
import { keyIdOf, loadPrivateKeyFile } from './key-file.js';

export interface SigningKey<A extends string = SignatureAlgorithm> {
  readonly keyId: string;
  readonly algorithm: A;
  readonly publicKey: KeyObject;
  sign(data: Buffer): Promise<Buffer>;
  /** Backends holding resources (HSM sessions) release them here; called when the daemon stops. */
  close?(): Promise<void>;
}

export function loadFileSigningKey(path: string, algorithm: SignatureAlgorithm): SigningKey {
  const privateKey = loadPrivateKeyFile(path);
  const mismatch = keyMismatch(algorithm, privateKey);
  if (mismatch) throw new DaemonError('KEY_LOAD_FAILED', `private key ${path}: ${mismatch}`);
  const publicKey = createPublicKey(privateKey);
  return {
    keyId: keyIdOf(publicKey),
    algorithm,
    publicKey,
    sign: (data) => signAsync(algorithm, privateKey, data),
  };
}
