// The key seam of the firmware formats: what a format needs from a key, whether its private half is
// in a file or in an HSM (keys/file-key.ts, keys/pkcs11-key.ts). Formats hash their own bytes and
// ask for a signature over the digest; the signature is verified before it is handed over.
import type { DigestScheme } from '../../../lib/crypto/digest-schemes.js';
import { DaemonError } from '../../../lib/errors.js';
import type { SigningCertificate } from '../keys/certificate.js';
import type { KeyFacts } from '../keys/key-facts.js';

export interface DigestSigner extends KeyFacts {
  /** The certificate that names this key, for slots that have one (kmodsign, swupdate-cms); else null. */
  readonly certificate: SigningCertificate | null;
  /**
   * Signs `digest` (the output of the scheme's hash, made by the caller). RSA: the signature octets;
   * ECDSA: r‖s, `sigBytes` long. Resolves only to a signature that verified with `publicKey`;
   * otherwise rejects with SIGNATURE_CHECK_FAILED (BAD_REQUEST for a digest of the wrong length,
   * BACKEND_* when an HSM fails). Schemes the key cannot do are INTERNAL: a format's bug.
   */
  sign(scheme: DigestScheme, digest: Buffer): Promise<Buffer>;
  /**
   * The same over a message the format holds anyway (a module, signed attributes, a manifest): the
   * signer hashes it with the scheme's digest, so a key in a file signs and checks it on libuv's
   * thread pool instead of the event loop. Same result and the same guarantee as `sign`.
   */
  signMessage(scheme: DigestScheme, message: Buffer): Promise<Buffer>;
}

/** The certificate a format must embed (PKCS#7, CMS); a slot without one reaching such a format is a bug. */
export function certificateOf(signer: DigestSigner, format: string): SigningCertificate {
  if (!signer.certificate) throw new DaemonError('INTERNAL', `${format} needs a key with a certificate`);
  return signer.certificate;
}
