// OP-TEE trusted application signing (optee_os scripts/sign_encrypt.py, img_type 1 "bootstrap TA"):
// signatures over the SHA-256 of shdr ‖ uuid ‖ ta_version ‖ ELF, PKCS#1 v1.5 or PSS with salt 32
// (OP-TEE verifies with salt = hash length), and the whole .ta assembly for the HTTP front end.
import crypto from 'node:crypto';
import { DaemonError } from '../../../lib/errors.js';
import type { DigestSigner } from './digest-signer.js';

export type OpteeAlgorithm = 'PKCS1' | 'PSS';

/** TEE_ALG_* values written in shdr.algo. */
const OPTEE_ALGO_VALUE: Record<OpteeAlgorithm, number> = {
  PKCS1: 0x70004830, // TEE_ALG_RSASSA_PKCS1_V1_5_SHA256
  PSS: 0x70414930, // TEE_ALG_RSASSA_PKCS1_PSS_MGF1_SHA256
};
const SHDR_MAGIC = 0x4f545348;
const SHDR_BOOTSTRAP_TA = 1;
const HASH_BYTES = 32;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export function isOpteeAlgorithm(text: string): text is OpteeAlgorithm {
  return text === 'PKCS1' || text === 'PSS';
}

/** The bare TA signature over the 32-byte TA digest (sign_encrypt.py's stitch input). */
export async function signTaDigest(signer: DigestSigner, algo: OpteeAlgorithm, digest: Buffer): Promise<Buffer> {
  if (digest.length !== HASH_BYTES) throw new DaemonError('BAD_REQUEST', 'TA digest must be 32 bytes (SHA-256)');
  return signer.sign(algo === 'PKCS1' ? 'rsa-pkcs1-sha256' : 'rsa-pss-sha256', digest);
}

export interface OpteeTaInput {
  /** Dashed RFC 4122 text, e.g. 8aaaf200-2450-11e4-abe2-0002a5d5c51b. */
  uuid: string;
  /** ta_version, a u32. */
  version: number;
  /** The <uuid>.stripped.elf bytes. */
  elf: Buffer;
  algo: OpteeAlgorithm;
}

/** The signed header fields before the hash: magic, img_type, img_size, algo, hash_size, sig_size. */
function opteeShdr(sigBytes: number, algo: OpteeAlgorithm, imageBytes: number): Buffer {
  const shdr = Buffer.alloc(20);
  shdr.writeUInt32LE(SHDR_MAGIC, 0);
  shdr.writeUInt32LE(SHDR_BOOTSTRAP_TA, 4);
  shdr.writeUInt32LE(imageBytes, 8);
  shdr.writeUInt32LE(OPTEE_ALGO_VALUE[algo], 12);
  shdr.writeUInt16LE(HASH_BYTES, 16);
  shdr.writeUInt16LE(sigBytes, 18);
  return shdr;
}

/** The complete <uuid>.ta: shdr ‖ hash ‖ signature ‖ uuid ‖ ta_version ‖ ELF. */
export async function signTa(signer: DigestSigner, input: OpteeTaInput): Promise<Buffer> {
  const { shdr, digest, tail } = prepareTa(signer.sigBytes, input);
  return Buffer.concat([shdr, digest, await signTaDigest(signer, input.algo, digest), tail]);
}

/** A checked TA input split for signing: the digest to sign and the parts around the signature. */
interface PreparedTa {
  readonly shdr: Buffer;
  readonly digest: Buffer;
  /** uuid ‖ ta_version ‖ ELF */
  readonly tail: Buffer;
}

function prepareTa(sigBytes: number, input: OpteeTaInput): PreparedTa {
  if (!UUID.test(input.uuid)) throw new DaemonError('BAD_REQUEST', 'TA uuid must be 8-4-4-4-12 hex digits');
  if (!Number.isInteger(input.version) || input.version < 0 || input.version > 0xffffffff) throw new DaemonError('BAD_REQUEST', 'ta_version must be a u32');
  if (input.elf.length > 0xffffffff) throw new DaemonError('PAYLOAD_TOO_LARGE', 'TA image larger than 4 GiB');
  const shdr = opteeShdr(sigBytes, input.algo, input.elf.length);
  const uuid = Buffer.from(input.uuid.replace(/-/g, ''), 'hex');
  const version = Buffer.alloc(4);
  version.writeUInt32LE(input.version);
  const digest = crypto.createHash('sha256').update(shdr).update(uuid).update(version).update(input.elf).digest();
  return { shdr, digest, tail: Buffer.concat([uuid, version, input.elf]) };
}
