// The smallest RSA modulus signerd signs or verifies with, for every daemon and key backend. NIST SP
// 800-131A has disallowed RSA under 2048 bits for signatures since 2014: such a key can be factored,
// and then anyone can make a signature that verifies, so a smaller key is refused at start-up.
import type { KeyObject } from 'node:crypto';

export const RSA_BITS_MIN = 2048;
/** The largest modulus signerd generates: RSA-16384 already takes minutes to make and seconds to sign with. */
export const RSA_BITS_MAX = 16384;

/** Why an RSA modulus of this size is too small to use, or null when it is large enough. */
export function rsaBitsTooSmall(bits: number): string | null {
  return bits >= RSA_BITS_MIN ? null : `an RSA-${bits} key is too small (RSA keys need ${RSA_BITS_MIN} bits or more)`;
}

export function rsaKeyTooSmall(key: KeyObject): string | null {
  return rsaBitsTooSmall(key.asymmetricKeyDetails?.modulusLength ?? 0);
}
