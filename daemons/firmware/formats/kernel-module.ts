// Kernel module signatures exactly as linux scripts/sign-file writes them (RSA keys): a detached
// PKCS#7 SignedData with no signed attributes, signer named by issuer+serial, no certificates;
// then the module_signature trailer and the magic string. Byte-identical to sign-file's output.
import { context, int, nul, oid, OID, raw, seq, set, octets, toDer } from '../../../lib/crypto/der.js';
import { DIGESTS, DIGEST_NAMES, isDigestName, type DigestName } from '../../../lib/crypto/digests.js';
import { DaemonError } from '../../../lib/errors.js';
import type { SigningCertificate } from '../keys/certificate.js';
import { certificateOf, type DigestSigner } from './digest-signer.js';

export type ModuleHash = DigestName;
export const MODULE_HASHES: readonly ModuleHash[] = DIGEST_NAMES;
export const isModuleHash: (text: string) => text is ModuleHash = isDigestName;

/** "~Module signature appended~\n" (include/linux/module_signature.h). */
const MODULE_SIG_MAGIC = Buffer.from('~Module signature appended~\n', 'latin1');
/** PKEY_ID_PKCS7 in struct module_signature. */
const PKEY_ID_PKCS7 = 2;

/** The PKCS#7 blob (what `sign-file -d` writes to <module>.p7s) for a module digest. */
export async function signModuleDigest(signer: DigestSigner, hash: ModuleHash, digest: Buffer): Promise<Buffer> {
  const certificate = certificateOf(signer, 'a kernel module signature');
  return modulePkcs7Blob(certificate, hash, await signer.sign(`rsa-pkcs1-${hash}`, digest));
}

/**
 * The whole signed module: module ‖ PKCS#7 ‖ struct module_signature ‖ magic. A module that still
 * ends with a signature is refused: sign-file would append a second one (callers strip old ones
 * first with stripModuleSignatures).
 */
export async function signModule(signer: DigestSigner, hash: ModuleHash, module: Buffer): Promise<Buffer> {
  if (isSignedModule(module)) throw new DaemonError('BAD_REQUEST', 'a module in the artifact is already signed');
  const certificate = certificateOf(signer, 'a kernel module signature');
  const blob = modulePkcs7Blob(certificate, hash, await signer.signMessage(`rsa-pkcs1-${hash}`, module));
  return Buffer.concat([module, blob, moduleSignatureTrailer(blob.length), MODULE_SIG_MAGIC]);
}

/** struct module_signature: algo, hash, id_type, signer_len, key_id_len, pad[3], __be32 sig_len. */
export function moduleSignatureTrailer(blobBytes: number): Buffer {
  const trailer = Buffer.alloc(12);
  trailer[2] = PKEY_ID_PKCS7;
  trailer.writeUInt32BE(blobBytes, 8);
  return trailer;
}

/** True when the data already ends with a module signature (sign-file would append a second one). */
export function isSignedModule(module: Buffer): boolean {
  return module.length >= MODULE_SIG_MAGIC.length && module.subarray(module.length - MODULE_SIG_MAGIC.length).equals(MODULE_SIG_MAGIC);
}

/** sizeof(struct module_signature). */
const TRAILER_BYTES = 12;

/**
 * The module without the signatures appended to it (a kernel built with CONFIG_MODULE_SIG_ALL=y
 * signs its modules at `make modules_install`; signing twice with sign-file appends a second one):
 * what sign-file has to be given to re-sign it. Each signature block is checked as the kernel checks
 * it (mod_check_sig) and must hold one DER SEQUENCE of exactly sig_len bytes; a damaged block is
 * BAD_REQUEST, since cutting at a wrong length would sign something that is not the module.
 */
export function stripModuleSignatures(module: Buffer): { unsigned: Buffer; stripped: number } {
  let unsigned = module;
  let stripped = 0;
  while (isSignedModule(unsigned)) {
    const withoutMagic = unsigned.length - MODULE_SIG_MAGIC.length;
    if (withoutMagic < TRAILER_BYTES) throw damaged('too short for its signature trailer');
    const trailer = unsigned.subarray(withoutMagic - TRAILER_BYTES, withoutMagic);
    const sigBytes = trailer.readUInt32BE(8);
    if (trailer[2] !== PKEY_ID_PKCS7) throw damaged('its signature is not PKCS#7');
    if (trailer.subarray(0, 8).some((b, i) => i !== 2 && b !== 0)) throw damaged('its signature trailer has non-zero reserved fields');
    if (sigBytes >= withoutMagic - TRAILER_BYTES) throw damaged('its signature length runs past the start of the file');
    const start = withoutMagic - TRAILER_BYTES - sigBytes;
    if (derSequenceBytes(unsigned.subarray(start, start + sigBytes)) !== sigBytes) throw damaged('its signature is not one DER SEQUENCE of the stated length');
    unsigned = unsigned.subarray(0, start);
    stripped++;
  }
  return { unsigned, stripped };
}

function damaged(why: string): DaemonError {
  return new DaemonError('BAD_REQUEST', `a module in the artifact ends with a damaged module signature (${why}); it cannot be re-signed`);
}

/** Total length (header included) a DER SEQUENCE at the start of `der` claims; -1 when it is not one. */
function derSequenceBytes(der: Buffer): number {
  if (der.length < 2 || der[0] !== 0x30) return -1;
  const first = der[1]!;
  if (first < 0x80) return 2 + first;
  const lengthBytes = first & 0x7f;
  if (lengthBytes === 0 || lengthBytes > 4 || der.length < 2 + lengthBytes) return -1;
  return 2 + lengthBytes + der.readUIntBE(2, lengthBytes);
}

/** The PKCS#7 blob around a PKCS#1 v1.5 signature over DigestInfo(hash). */
function modulePkcs7Blob(certificate: SigningCertificate, hash: ModuleHash, signature: Buffer): Buffer {
  // sign-file (OpenSSL PKCS7 with PKCS7_NOATTR) writes hash AlgorithmIdentifiers WITHOUT a NULL
  // parameter but rsaEncryption WITH one; both matter for byte identity.
  const hashAlg = seq(oid(DIGESTS[hash].oid));
  const signerInfo = seq(int(1), seq(raw(certificate.issuerDer), raw(certificate.serialDer)), hashAlg, seq(oid(OID.rsaEncryption), nul()), octets(signature));
  const signedData = seq(int(1), set(seq(oid(DIGESTS[hash].oid))), seq(oid(OID.data)), set(signerInfo));
  return toDer(seq(oid(OID.signedData), context(0, signedData)));
}
