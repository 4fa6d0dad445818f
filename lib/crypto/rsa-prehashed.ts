// RSA signatures over a digest the caller computed (node:crypto only hashes itself): PKCS#1 v1.5
// via privateEncrypt over DigestInfo‖hash, RSASSA-PSS via an EMSA-PSS encoder and raw RSA.
// Both have matching checks, so every signature can be verified before it leaves the daemon.
import crypto, { type KeyObject } from 'node:crypto';
import { digestInfo, type DigestName } from './digests.js';

export function signPkcs1Digest(privateKey: KeyObject, hash: DigestName, digest: Buffer): Buffer {
  return crypto.privateEncrypt({ key: privateKey, padding: crypto.constants.RSA_PKCS1_PADDING }, digestInfo(hash, digest));
}

export function verifyPkcs1Digest(publicKey: KeyObject, hash: DigestName, digest: Buffer, signature: Buffer): boolean {
  try {
    const recovered = crypto.publicDecrypt({ key: publicKey, padding: crypto.constants.RSA_PKCS1_PADDING }, signature);
    return recovered.equals(digestInfo(hash, digest));
  } catch {
    return false;
  }
}

/** Salt length 'max' is OpenSSL's rsa_pss_saltlen:-2 when signing (emLen - hLen - 2). */
export type PssSalt = number | 'max';

/** RSASSA-PSS with SHA-256 and MGF1-SHA-256 (the only PSS flavour swupdate and OP-TEE use). */
export function signPssDigest(privateKey: KeyObject, digest: Buffer, salt: PssSalt): Buffer {
  const modBits = modulusBits(privateKey);
  const em = emsaPssEncode(digest, modBits - 1, crypto.randomBytes(saltBytes(modBits, salt)));
  return crypto.privateEncrypt({ key: privateKey, padding: crypto.constants.RSA_NO_PADDING }, leftPad(em, Math.ceil(modBits / 8)));
}

/** Checks a PSS signature over a SHA-256 digest; salt 'any' recovers the salt length as OpenSSL's auto mode does. */
export function verifyPssDigest(publicKey: KeyObject, digest: Buffer, signature: Buffer, salt: PssSalt | 'any'): boolean {
  const modBits = modulusBits(publicKey);
  if (signature.length !== Math.ceil(modBits / 8) || digest.length !== 32) return false;
  let em: Buffer;
  try {
    em = crypto.publicDecrypt({ key: publicKey, padding: crypto.constants.RSA_NO_PADDING }, signature);
  } catch {
    return false;
  }
  const emBits = modBits - 1;
  const emLen = Math.ceil(emBits / 8);
  if (em.length > emLen && em.subarray(0, em.length - emLen).some((b) => b !== 0)) return false;
  return emsaPssVerify(digest, em.subarray(em.length - emLen), emBits, salt === 'any' ? 'any' : saltBytes(modBits, salt));
}

/** The salt length in bytes; 'max' is the largest the modulus allows (emLen - hLen - 2). */
function saltBytes(modBits: number, salt: PssSalt): number {
  return salt === 'max' ? Math.ceil((modBits - 1) / 8) - 32 - 2 : salt;
}

function modulusBits(key: KeyObject): number {
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (key.asymmetricKeyType !== 'rsa' || !bits) throw new TypeError('not an RSA key');
  return bits;
}

function sha256(...parts: Buffer[]): Buffer {
  const h = crypto.createHash('sha256');
  for (const part of parts) h.update(part);
  return h.digest();
}

function mgf1(seed: Buffer, length: number): Buffer {
  const blocks: Buffer[] = [];
  for (let counter = 0; blocks.length * 32 < length; counter++) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    blocks.push(sha256(seed, c));
  }
  return Buffer.concat(blocks).subarray(0, length);
}

/** RFC 8017 §9.1.1 with hLen 32. */
function emsaPssEncode(mHash: Buffer, emBits: number, salt: Buffer): Buffer {
  const emLen = Math.ceil(emBits / 8);
  if (mHash.length !== 32) throw new RangeError('PSS digest must be 32 bytes (SHA-256)');
  if (emLen < 32 + salt.length + 2) throw new RangeError('RSA key too small for this PSS salt');
  const h = sha256(Buffer.alloc(8), mHash, salt);
  const db = Buffer.concat([Buffer.alloc(emLen - salt.length - 32 - 2), Buffer.from([1]), salt]);
  const mask = mgf1(h, emLen - 32 - 1);
  for (let i = 0; i < db.length; i++) db[i]! ^= mask[i]!;
  db[0]! &= 0xff >> (8 * emLen - emBits);
  return Buffer.concat([db, h, Buffer.from([0xbc])]);
}

/** RFC 8017 §9.1.2 with hLen 32. */
function emsaPssVerify(mHash: Buffer, em: Buffer, emBits: number, salt: number | 'any'): boolean {
  const emLen = em.length;
  if (emLen < 32 + 2 || em[emLen - 1] !== 0xbc) return false;
  const maskedDb = em.subarray(0, emLen - 32 - 1);
  const h = em.subarray(emLen - 32 - 1, emLen - 1);
  const topMask = 0xff >> (8 * emLen - emBits);
  if ((maskedDb[0]! & ~topMask) !== 0) return false;
  const mask = mgf1(h, maskedDb.length);
  const db = Buffer.from(maskedDb.map((b, i) => b ^ mask[i]!));
  db[0]! &= topMask;
  const one = db.indexOf(1);
  if (one < 0 || db.subarray(0, one).some((b) => b !== 0)) return false;
  const found = db.subarray(one + 1);
  if (salt !== 'any' && found.length !== salt) return false;
  return sha256(Buffer.alloc(8), mHash, found).equals(h);
}

function leftPad(data: Buffer, length: number): Buffer {
  return data.length >= length ? data : Buffer.concat([Buffer.alloc(length - data.length), data]);
}
