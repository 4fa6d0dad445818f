// Octez signer authentication: the client signs 0x04 ‖ 0x01 ‖ binary pkh (21 bytes) ‖ data with one of
// the authorized keys (plain Tezos signature, no watermark); any authorized key that verifies it is enough.
import { DaemonError } from '../../../lib/errors.js';
import { publicKeyHashBytes } from '../keys/key-encoding.js';
import { verifyTezosSignature } from '../keys/tezos-key.js';

const AUTHENTICATED_MAGIC = 0x04;
const SIGN_REQUEST_TAG = 0x01;

/** The bytes a client signs to authenticate a sign request for `pkh`. */
export function authenticationBytes(pkh: string, payload: Buffer): Buffer {
  const pkhBytes = publicKeyHashBytes(pkh);
  if (pkhBytes === null) throw new DaemonError('BAD_REQUEST', 'not a Tezos public key hash');
  return Buffer.concat([Buffer.from([AUTHENTICATED_MAGIC, SIGN_REQUEST_TAG]), pkhBytes, payload]);
}

/** `authorizedKeys` are public keys (edpk…/sppk…/p2pk…/BLpk…); throws UNAUTHORIZED unless one of them signed. */
export function checkAuthentication(authorizedKeys: string[], pkh: string, payload: Buffer, authSignature: string | null): void {
  if (authSignature === null || authSignature === '') throw new DaemonError('UNAUTHORIZED', 'missing authentication signature field');
  const message = authenticationBytes(pkh, payload);
  if (!authorizedKeys.some((pk) => verifyTezosSignature(pk, message, authSignature))) {
    throw new DaemonError('UNAUTHORIZED', 'invalid authentication signature');
  }
}
