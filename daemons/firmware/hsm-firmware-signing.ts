// The firmware formats signed through an HSM-held key: the same bytes the in-memory signers write
// (module PKCS#7, swupdate RSA / RSA-PSS / CMS, Mender, OP-TEE), the private operation done by the
// token asynchronously. Each result is checked again here, as the in-memory signers check theirs.
import crypto from 'node:crypto';
import { DaemonError } from '../../lib/errors.js';
import { cmsSignedAttributes, cmsSignedData } from './cms-signature.js';
import { seq, toDer, uint } from './der.js';
import type { FirmwareCertificate, HsmFirmwareKey } from './key-root.js';
import { checkMenderManifest } from './mender-signature.js';
import { MODULE_SIG_MAGIC, modulePkcs7Blob, moduleSignatureTrailer, type ModuleHash } from './module-signature.js';
import { assembleOpteeTa, prepareOpteeTa, type OpteeAlgorithm, type OpteeTaInput } from './optee-signature.js';
import { verifyPkcs1Digest, verifyPssDigest } from './rsa-prehashed.js';

const PKCS1_SCHEME = { sha256: 'rsa-pkcs1-sha256', sha384: 'rsa-pkcs1-sha384', sha512: 'rsa-pkcs1-sha512' } as const;

/** sign-file -d output for a module digest. */
export async function hsmModuleDigest(key: HsmFirmwareKey, certificate: FirmwareCertificate, hash: ModuleHash, digest: Buffer): Promise<Buffer> {
  const signature = await key.signDigest(PKCS1_SCHEME[hash], digest);
  if (!verifyPkcs1Digest(key.publicKey, hash, digest, signature)) throw withheld('module');
  return modulePkcs7Blob(certificate, hash, signature);
}

/** sign-file output: module ‖ PKCS#7 ‖ struct module_signature ‖ magic. */
export async function hsmSignedModule(key: HsmFirmwareKey, certificate: FirmwareCertificate, hash: ModuleHash, module: Buffer): Promise<Buffer> {
  const blob = await hsmModuleDigest(key, certificate, hash, crypto.createHash(hash).update(module).digest());
  return Buffer.concat([module, blob, moduleSignatureTrailer(blob.length), MODULE_SIG_MAGIC]);
}

/** swupdate RSA (PKCS#1 v1.5, SHA-256) or RSA-PSS (maximum salt) over SHA-256(sw-description). */
export async function hsmSwupdateRsa(key: HsmFirmwareKey, method: 'RSA' | 'RSA-PSS', sha256: Buffer): Promise<Buffer> {
  if (sha256.length !== 32) throw new DaemonError('BAD_REQUEST', 'sw-description digest must be 32 bytes (SHA-256)');
  const signature = await key.signDigest(method === 'RSA' ? 'rsa-pkcs1-sha256' : 'rsa-pss-sha256-max-salt', sha256);
  const ok = method === 'RSA' ? verifyPkcs1Digest(key.publicKey, 'sha256', sha256, signature) : verifyPssDigest(key.publicKey, sha256, signature, 'any');
  if (!ok) throw withheld('sw-description');
  return signature;
}

/** Detached CMS SignedData over a content digest; the token signs SHA-256 of the signed attributes. */
export async function hsmCmsDigest(
  key: HsmFirmwareKey,
  certificate: FirmwareCertificate,
  contentSha256: Buffer,
  signingTime: Date = new Date(),
): Promise<Buffer> {
  const signedSet = cmsSignedAttributes(contentSha256, signingTime);
  const digest = crypto.createHash('sha256').update(signedSet).digest();
  const keyType = key.type === 'rsa' ? 'rsa' : 'ec';
  const raw = await key.signDigest(keyType === 'rsa' ? 'rsa-pkcs1-sha256' : 'ecdsa-p256-sha256', digest);
  // CMS carries ECDSA as a DER Ecdsa-Sig-Value; the token gives r‖s.
  const signature = keyType === 'rsa' ? raw : ecdsaDer(raw);
  const options = keyType === 'rsa' ? { padding: crypto.constants.RSA_PKCS1_PADDING } : { dsaEncoding: 'der' as const };
  const ok = await new Promise<boolean>((resolve) =>
    crypto.verify('sha256', signedSet, { key: key.publicKey, ...options }, signature, (err, v) => resolve(!err && v)),
  );
  if (!ok) throw withheld('CMS');
  return cmsSignedData(certificate, keyType, signedSet, signature);
}

/** manifest.sig contents from the manifest (its shape checked first). */
export function hsmMenderManifest(key: HsmFirmwareKey, manifest: Buffer): Promise<string> {
  checkMenderManifest(manifest);
  return hsmMenderDigest(key, crypto.createHash('sha256').update(manifest).digest());
}

/** manifest.sig contents from SHA-256(manifest): RSA PKCS#1 v1.5, or P-256 r‖s (low-S; Mender accepts either S). */
export async function hsmMenderDigest(key: HsmFirmwareKey, sha256: Buffer): Promise<string> {
  if (sha256.length !== 32) throw new DaemonError('BAD_REQUEST', 'manifest digest must be 32 bytes (SHA-256)');
  const signature = await key.signDigest(key.type === 'rsa' ? 'rsa-pkcs1-sha256' : 'ecdsa-p256-sha256', sha256);
  // RSA is checked again here; the backend has checked the r‖s against the public point (noble).
  if (key.type === 'rsa' ? !verifyPkcs1Digest(key.publicKey, 'sha256', sha256, signature) : signature.length !== 64) throw withheld('manifest');
  return signature.toString('base64');
}

/** Bare TA signature: PKCS#1 v1.5 (deterministic) or PSS with salt 32, over the 32-byte TA digest. */
export async function hsmOpteeDigest(key: HsmFirmwareKey, algo: OpteeAlgorithm, digest: Buffer): Promise<Buffer> {
  if (digest.length !== 32) throw new DaemonError('BAD_REQUEST', 'TA digest must be 32 bytes (SHA-256)');
  const signature = await key.signDigest(algo === 'PKCS1' ? 'rsa-pkcs1-sha256' : 'rsa-pss-sha256', digest);
  const ok = algo === 'PKCS1' ? verifyPkcs1Digest(key.publicKey, 'sha256', digest, signature) : verifyPssDigest(key.publicKey, digest, signature, 32);
  if (!ok) throw withheld('TA');
  return signature;
}

/** The complete signed <uuid>.ta. */
export async function hsmOpteeTa(key: HsmFirmwareKey, input: OpteeTaInput): Promise<Buffer> {
  const ta = prepareOpteeTa(key, input);
  return assembleOpteeTa(ta, await hsmOpteeDigest(key, input.algo, ta.digest));
}

function ecdsaDer(rs: Buffer): Buffer {
  const half = rs.length / 2;
  return toDer(seq(uint(rs.subarray(0, half)), uint(rs.subarray(half))));
}

function withheld(what: string): DaemonError {
  return new DaemonError('SIGNATURE_CHECK_FAILED', `${what} signature did not verify; withheld`);
}
