// The one "sign, verify, withhold" path every firmware signature takes, whatever holds the key: the
// scheme must fit the key and the digest its hash; the backend's signature must then verify with
// the public key (and have the key's signature length), or it is withheld as SIGNATURE_CHECK_FAILED.
import { DIGEST_SCHEMES, verifyDigestSignature, verifyMessageSignature, type DigestScheme } from '../../../lib/crypto/digest-schemes.js';
import { DIGESTS } from '../../../lib/crypto/digests.js';
import { DaemonError } from '../../../lib/errors.js';
import type { DigestSigner } from '../formats/digest-signer.js';
import type { SigningCertificate } from './certificate.js';
import type { KeyFacts } from './key-facts.js';

/** A key's private operation, unchecked: what a backend (file, HSM) supplies. */
export interface PrivateKeyOperation {
  signDigest(scheme: DigestScheme, digest: Buffer): Promise<Buffer>;
  signMessage(scheme: DigestScheme, message: Buffer): Promise<Buffer>;
}

export function checkedSigner(facts: KeyFacts, certificate: SigningCertificate | null, operation: PrivateKeyOperation): DigestSigner {
  const fits = (scheme: DigestScheme): void => {
    // A format asking an EC key for RSA (or the reverse) is a bug: the key root only lets in keys its slot's formats can use.
    if (DIGEST_SCHEMES[scheme].keyType !== facts.type) throw new DaemonError('INTERNAL', `${scheme} asked of a ${facts.description} key`);
  };
  const released = (signature: Buffer, verified: boolean): Buffer => {
    if (!verified || signature.length !== facts.sigBytes)
      throw new DaemonError('SIGNATURE_CHECK_FAILED', 'signature did not verify with the public key; withheld');
    return signature;
  };
  return {
    ...facts,
    certificate,
    async sign(scheme, digest) {
      fits(scheme);
      const { digest: hash } = DIGEST_SCHEMES[scheme];
      if (digest.length !== DIGESTS[hash].bytes) throw new DaemonError('BAD_REQUEST', `a ${hash} digest is ${DIGESTS[hash].bytes} bytes, got ${digest.length}`);
      const signature = await operation.signDigest(scheme, digest);
      return released(signature, await verifyDigestSignature(scheme, facts.publicKey, digest, signature));
    },
    async signMessage(scheme, message) {
      fits(scheme);
      const signature = await operation.signMessage(scheme, message);
      return released(signature, await verifyMessageSignature(scheme, facts.publicKey, message, signature));
    },
  };
}
