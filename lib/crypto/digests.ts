// The SHA-2 digests signerd signs over: their lengths, their OIDs and the DER DigestInfo prefix
// PKCS#1 v1.5 wraps a digest in. The one table of them: RSA over a digest (file keys), the HSM
// mechanisms and the PKCS#7 / CMS writers all read it.
export type DigestName = 'sha256' | 'sha384' | 'sha512';

export const DIGEST_NAMES: readonly DigestName[] = ['sha256', 'sha384', 'sha512'];

interface DigestFacts {
  /** Output length. */
  readonly bytes: number;
  /** The hash's OBJECT IDENTIFIER (NIST, RFC 5754). */
  readonly oid: string;
  /** DER of DigestInfo up to the digest: AlgorithmIdentifier with NULL parameters, then the OCTET STRING header (RFC 8017 §9.2 note 1). */
  readonly digestInfoPrefix: Buffer;
}

export const DIGESTS: Readonly<Record<DigestName, DigestFacts>> = {
  sha256: { bytes: 32, oid: '2.16.840.1.101.3.4.2.1', digestInfoPrefix: Buffer.from('3031300d060960864801650304020105000420', 'hex') },
  sha384: { bytes: 48, oid: '2.16.840.1.101.3.4.2.2', digestInfoPrefix: Buffer.from('3041300d060960864801650304020205000430', 'hex') },
  sha512: { bytes: 64, oid: '2.16.840.1.101.3.4.2.3', digestInfoPrefix: Buffer.from('3051300d060960864801650304020305000440', 'hex') },
};

export function isDigestName(text: string): text is DigestName {
  return (DIGEST_NAMES as readonly string[]).includes(text);
}

/** DER DigestInfo ‖ digest: what RSA PKCS#1 v1.5 signs. RangeError for a digest of the wrong length (a caller's bug). */
export function digestInfo(name: DigestName, digest: Buffer): Buffer {
  if (digest.length !== DIGESTS[name].bytes) throw new RangeError(`${name} digest must be ${DIGESTS[name].bytes} bytes`);
  return Buffer.concat([DIGESTS[name].digestInfoPrefix, digest]);
}
