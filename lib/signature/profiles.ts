// The two signature families of the seed's daemon collection: their algorithm, default ports,
// and the exact verify replies the Python originals sent (clients compare these strings).
import type { SignatureAlgorithm } from '../crypto/signature-algorithms.js';

export interface SignatureProfile {
  /** Short family name used in daemon names: sign-<family>, verify-<family>. */
  family: 'rsa' | 'ecdsa';
  algorithm: SignatureAlgorithm;
  signPort: number;
  verifyPort: number;
  /** Signature length for keys keygen makes; used only for help texts and docs. */
  description: string;
  verifiedReply: (valid: boolean) => string;
}

export const RSA_PROFILE: SignatureProfile = {
  family: 'rsa',
  algorithm: 'rsa-pss-sha256',
  signPort: 9948,
  verifyPort: 9949,
  description: 'RSASSA-PSS, SHA-256, MGF1-SHA-256, salt 32',
  verifiedReply: (valid) => `('Validated as:', ${valid ? 'True' : 'False'})`,
};

export const ECDSA_PROFILE: SignatureProfile = {
  family: 'ecdsa',
  algorithm: 'ecdsa-p384-sha384',
  signPort: 9848,
  verifyPort: 9849,
  description: 'ECDSA P-384, SHA-384, raw r||s',
  verifiedReply: (valid) => (valid ? 'Valid entry found.' : 'No match for signature.'),
};
