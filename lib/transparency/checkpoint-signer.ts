// The seam between the log and its key: a CheckpointSigner signs note text with Ed25519, whether
// the key is a note key file (here) or a PKCS#11 object (open-log-key.ts). Every checkpoint
// signature is verified with the public key before the checkpoint is written anywhere.
import crypto from 'node:crypto';
import { DaemonError } from '../errors.js';
import { readSecretFile } from '../keys/key-file.js';
import { formatVerifierKey, parsePrivateKey, publicKeyObject } from './note-key.js';
import { checkpointText, type Checkpoint } from './checkpoint.js';
import { formatSignedNote } from './signed-note.js';

export interface CheckpointSigner {
  /** The key's name: the log's origin line. */
  readonly name: string;
  readonly keyId: number;
  /** Raw 32-byte Ed25519 public key. */
  readonly publicKey: Buffer;
  sign(message: Buffer): Promise<Buffer>;
  close?(): Promise<void>;
}

/** A note private key file (mode 0600, as `signerd log keygen` writes it). */
export function loadCheckpointSignerFile(path: string): CheckpointSigner {
  const raw = readSecretFile(path, 'log key');
  const text = raw.toString('utf8');
  raw.fill(0);
  const key = parsePrivateKey(text, `log key ${path}`);
  return {
    name: key.name,
    keyId: key.keyId,
    publicKey: key.publicKey,
    sign: async (message) => crypto.sign(null, message, key.privateKey),
  };
}

export function verifierKeyOf(signer: CheckpointSigner): string {
  return formatVerifierKey(signer.name, signer.publicKey);
}

/** The signed checkpoint note; SIGNATURE_CHECK_FAILED when a signature does not verify (never written). */
export async function signCheckpoint(checkpoint: Checkpoint, signers: readonly CheckpointSigner[]): Promise<string> {
  const text = checkpointText(checkpoint);
  const message = Buffer.from(text, 'utf8');
  const signatures = await Promise.all(
    signers.map(async (s) => {
      const signature = await s.sign(message);
      if (!crypto.verify(null, message, publicKeyObject(s.publicKey), signature)) {
        throw new DaemonError('SIGNATURE_CHECK_FAILED', `the checkpoint signature by ${s.name} did not verify; withheld`);
      }
      return { name: s.name, keyId: s.keyId, signature };
    }),
  );
  return formatSignedNote(text, signatures);
}
