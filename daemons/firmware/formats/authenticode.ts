// Authenticode signatures for UEFI Secure Boot: PKCS#7 SignedData whose content is an
// SpcIndirectDataContent naming the PE image hash, laid out byte for byte as sbsign writes it
// (digest algorithms with NULL parameters, contentType/signingTime/messageDigest/SMIMECapabilities,
// the signer certificate), so the same key and second give sbsign's exact bytes.
import crypto from 'node:crypto';
import { bitString, context, contextPrimitive, int, nul, oid, OID, octets, raw, seq, set, setOfDer, toDer, utcTime } from '../../../lib/crypto/der.js';
import { DIGESTS } from '../../../lib/crypto/digests.js';
import { DaemonError } from '../../../lib/errors.js';
import { smimeCapabilitiesAttribute } from './cms.js';
import { certificateOf, type DigestSigner } from './digest-signer.js';
import { authenticodeDigest, embedSignature, parsePe } from './pe-image.js';

const SPC_INDIRECT_DATA = '1.3.6.1.4.1.311.2.1.4';
const SPC_PE_IMAGE_DATA = '1.3.6.1.4.1.311.2.1.15';
/** SpcString as every signer writes it: [0] IMPLICIT BMPString "<<<Obsolete>>>". */
const OBSOLETE_BMP = Buffer.from('<<<Obsolete>>>', 'utf16le').swap16();

/** The PKCS#7 SignedData (DER) for an Authenticode SHA-256 image digest: what `sbsign --detached` writes. */
export async function signAuthenticodeDigest(signer: DigestSigner, imageSha256: Buffer, signingTime: Date = new Date()): Promise<Buffer> {
  if (imageSha256.length !== DIGESTS.sha256.bytes) throw new DaemonError('BAD_REQUEST', 'an Authenticode digest is 32 bytes (SHA-256)');
  if (signer.type !== 'rsa') throw new DaemonError('INTERNAL', 'Authenticode needs an RSA key');
  const certificate = certificateOf(signer, 'an Authenticode signature');
  const sha256 = () => seq(oid(DIGESTS.sha256.oid), nul());
  // SpcIndirectDataContent ::= SEQUENCE { data SpcAttributeTypeAndOptionalValue, messageDigest DigestInfo }
  const indirect = toDer(
    seq(
      seq(oid(SPC_PE_IMAGE_DATA), seq(bitString(Buffer.alloc(0)), context(0, context(2, contextPrimitive(0, OBSOLETE_BMP))))),
      seq(sha256(), octets(imageSha256)),
    ),
  );
  // messageDigest covers the content's value octets only, not its SEQUENCE tag and length (PKCS#7 §9.3).
  const contentDigest = crypto.createHash('sha256').update(contentOctets(indirect)).digest();
  const signedSet = setOfDer([
    seq(oid(OID.contentType), set(oid(SPC_INDIRECT_DATA))),
    seq(oid(OID.signingTime), set(utcTime(signingTime))),
    seq(oid(OID.messageDigest), set(octets(contentDigest))),
    smimeCapabilitiesAttribute(),
  ]);
  const signature = await signer.signMessage('rsa-pkcs1-sha256', signedSet);
  const signerInfo = seq(
    int(1),
    seq(raw(certificate.issuerDer), raw(certificate.serialDer)),
    sha256(),
    context(0, ...(raw(signedSet).value as ReturnType<typeof raw>[])),
    seq(oid(OID.rsaEncryption), nul()),
    octets(signature),
  );
  const signedData = seq(int(1), set(sha256()), seq(oid(SPC_INDIRECT_DATA), context(0, raw(indirect))), context(0, raw(certificate.der)), set(signerInfo));
  return toDer(seq(oid(OID.signedData), context(0, signedData)));
}

/** The signed PE image: what `sbsign --key --cert --output` writes for an unsigned image. */
export async function signPeImage(signer: DigestSigner, image: Buffer, signingTime?: Date): Promise<Buffer> {
  const layout = parsePe(image);
  if (layout.certTableBytes !== 0) throw new DaemonError('BAD_REQUEST', 'the PE image is already signed; send the unsigned image');
  return embedSignature(image, await signAuthenticodeDigest(signer, authenticodeDigest(image, layout), signingTime), layout);
}

/** The value octets of a DER element (its tag and length skipped). */
function contentOctets(der: Buffer): Buffer {
  const first = der[1]!;
  const lengthBytes = first & 0x80 ? 1 + (first & 0x7f) : 1;
  return der.subarray(1 + lengthBytes);
}
