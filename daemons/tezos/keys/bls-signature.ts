// BLS12-381 MinPk signatures as Tezos uses them (tz4): POP ciphersuite by default, AUG (pk ‖ msg) for
// signature version 0/1, and the proof of possession. Secrets arrive as octez stores them: little-endian.
import crypto from 'node:crypto';
import { bls12_381 } from '@noble/curves/bls12-381.js';

const bls = bls12_381.longSignatures;
const ORDER = bls12_381.fields.Fr.ORDER;

const DST_POP_SIGNATURE = 'BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_';
const DST_AUG_SIGNATURE = 'BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_AUG_';
const DST_PROOF_OF_POSSESSION = 'BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_';

/** Octez signature versions 0 and 1 sign tz4 with AUG; 2, 3 and none sign with POP. */
export function usesAugScheme(version: number | undefined): boolean {
  return version === 0 || version === 1;
}

/** noble reduces scalars modulo the group order; octez refuses them, and so do we (0 < scalar < r). */
function bigEndian(secretLittleEndian: Buffer): Uint8Array {
  if (secretLittleEndian.length !== 32) throw new Error('a BLS secret is 32 bytes');
  const be = Uint8Array.from(secretLittleEndian).reverse();
  const scalar = BigInt('0x' + Buffer.from(be).toString('hex'));
  if (scalar === 0n || scalar >= ORDER) throw new Error('BLS secret scalar out of range');
  return be;
}

/** A uniformly random secret scalar in 1..r-1, little-endian as BLsk carries it. */
export function blsRandomSecret(): Buffer {
  for (;;) {
    const candidate = crypto.randomBytes(32);
    const scalar = BigInt('0x' + Buffer.from(candidate).reverse().toString('hex'));
    if (scalar !== 0n && scalar < ORDER) return candidate;
  }
}

/** Compressed 48-byte G1 public key; throws for a scalar that is zero or out of range. */
export function blsPublicKey(secretLittleEndian: Buffer): Buffer {
  return Buffer.from(bls.getPublicKey(bigEndian(secretLittleEndian)).toBytes(true));
}

function message(publicKey: Buffer, payload: Buffer, version: number | undefined): { msg: Buffer; dst: string } {
  return usesAugScheme(version) ? { msg: Buffer.concat([publicKey, payload]), dst: DST_AUG_SIGNATURE } : { msg: payload, dst: DST_POP_SIGNATURE };
}

export function blsSign(secretLittleEndian: Buffer, publicKey: Buffer, payload: Buffer, version: number | undefined): Buffer {
  const { msg, dst } = message(publicKey, payload, version);
  const point = bls.sign(bls.hash(msg, dst), bigEndian(secretLittleEndian));
  return Buffer.from(bls.Signature.toBytes(point));
}

export function blsVerify(publicKey: Buffer, payload: Buffer, signature: Buffer, version: number | undefined): boolean {
  if (publicKey.length !== 48 || signature.length !== 96) return false;
  const { msg, dst } = message(publicKey, payload, version);
  return verifyPoint(publicKey, bls.hash(msg, dst), signature);
}

/** Proof of possession: the key signs its own compressed public key (or an override key's bytes). */
export function blsProvePossession(secretLittleEndian: Buffer, provenKey: Buffer): Buffer {
  const point = bls.sign(bls.hash(provenKey, DST_PROOF_OF_POSSESSION), bigEndian(secretLittleEndian));
  return Buffer.from(bls.Signature.toBytes(point));
}

export function blsVerifyPossession(publicKey: Buffer, proof: Buffer): boolean {
  return blsVerifyPossessionBy(publicKey, publicKey, proof);
}

/** A proof made by `signerKey` over `provenKey` (equal to it unless octez's `bls_pk` override was used). */
export function blsVerifyPossessionBy(signerKey: Buffer, provenKey: Buffer, proof: Buffer): boolean {
  if (signerKey.length !== 48 || provenKey.length !== 48 || proof.length !== 96) return false;
  return verifyPoint(signerKey, bls.hash(provenKey, DST_PROOF_OF_POSSESSION), proof);
}

function verifyPoint(publicKey: Buffer, hashed: ReturnType<typeof bls.hash>, signature: Buffer): boolean {
  try {
    // Decoding checks both points are on the curve and in the prime-order subgroup.
    return bls.verify(bls.Signature.fromBytes(signature), hashed, bls12_381.G1.Point.fromBytes(publicKey));
  } catch {
    return false;
  }
}
