// Opens the log's checkpoint key from --transparency-log-key: a `pkcs11:` URI names an Ed25519 key
// in a token (CKM_EDDSA; SoftHSM2 2.6 has it), anything else is a note private key file.
import type { Logger } from 'pino';
import { DaemonError } from '../errors.js';
import { keySourceOf } from '../keys/open-signing-key.js';
import { describePkcs11Uri, parsePkcs11Uri } from '../keys/pkcs11-uri.js';
import { isValidKeyName, noteKeyId, rawPublicKey } from './note-key.js';
import { loadCheckpointSignerFile, type CheckpointSigner } from './checkpoint-signer.js';

export interface LogKeyOptions {
  /**
   * The log's name. A key file carries its own (this must then match it); an HSM key has none,
   * so it is required for a pkcs11: URI.
   */
  name?: string;
  /** Deadline of one HSM call. */
  callMsMax: number;
  log?: Logger;
}

export async function openLogKey(ref: string, opts: LogKeyOptions): Promise<CheckpointSigner> {
  const source = keySourceOf(ref);
  if (source.kind === 'file') {
    const signer = loadCheckpointSignerFile(source.path);
    if (opts.name !== undefined && opts.name !== signer.name) {
      throw new DaemonError('CONFIG_INVALID', `log key ${source.path} is named ${signer.name}, but the log is ${opts.name}`);
    }
    return signer;
  }
  const name = opts.name;
  if (name === undefined || !isValidKeyName(name)) {
    throw new DaemonError('CONFIG_INVALID', `an HSM log key needs the log's name (--transparency-log-origin), without spaces or '+'`);
  }
  // Loaded only for an HSM key: the PKCS#11 module and its checks are not a key file's business.
  const { openPkcs11SigningKey } = await import('../keys/pkcs11-signing-key.js');
  const key = await openPkcs11SigningKey(source.uri, 'ed25519', { callMsMax: opts.callMsMax, log: opts.log });
  const publicKey = rawPublicKey(key.publicKey);
  opts.log?.info({ key: describePkcs11Uri(parsePkcs11Uri(source.uri)), name }, 'log key opened');
  return { name, keyId: noteKeyId(name, publicKey), publicKey, sign: (message) => key.sign(message), close: () => key.close() };
}
