// The verify daemons' request handler: a hex signature in, a verdict out. Valid means the record
// is live in the store AND the signature checks against the stored message with the public key
// the record names. No record is "not valid" (the seed treated it as the empty message).
import { DaemonError } from '../errors.js';
import { verifyAsync, type SignatureAlgorithm } from '../crypto/signature-algorithms.js';
import type { Keyring } from '../keys/public-keyring.js';
import { decodeHex } from '../protocol/encoding.js';
import { trimAsciiWhitespace } from '../protocol/line-reader.js';
import { formatErrorLine, type ReplyMode } from '../protocol/reply-format.js';
import type { LineService } from '../server/request-runner.js';
import type { ValidityStore } from '../store/validity-store.js';
import { SIGNATURE_BYTES_MAX } from '../limits.js';

export interface VerifyServiceDeps {
  algorithm: SignatureAlgorithm;
  keyring: Keyring;
  store: ValidityStore;
  reply: ReplyMode;
  verifiedReply(valid: boolean): string;
}

/** keyId is the record's when there is one (a refusal of a known record still names its key). */
type Verdict =
  { valid: true; keyId: string } | { valid: false; keyId?: string; reason: 'no-live-record' | 'other-algorithm' | 'key-not-in-keyring' | 'signature-mismatch' };

export function createVerifyService(deps: VerifyServiceDeps): LineService {
  async function judge(signatureHex: string): Promise<Verdict> {
    const signature = decodeHex(signatureHex, 'signature', SIGNATURE_BYTES_MAX);
    if (signature.length === 0) throw new DaemonError('BAD_REQUEST', 'empty request: send one hex signature per line');
    const record = await deps.store.getLive(signatureHex.toLowerCase());
    if (!record) return { valid: false, reason: 'no-live-record' };
    const keyId = record.keyId;
    if (record.algorithm !== deps.algorithm) return { valid: false, keyId, reason: 'other-algorithm' };
    const publicKey = deps.keyring.get(keyId);
    if (!publicKey) return { valid: false, keyId, reason: 'key-not-in-keyring' };
    const ok = await verifyAsync(deps.algorithm, publicKey, record.message, signature);
    return ok ? { valid: true, keyId } : { valid: false, keyId, reason: 'signature-mismatch' };
  }

  return {
    async handle(line, ctx) {
      const text = trimAsciiWhitespace(line).toString('latin1');
      const verdict = await judge(text);
      ctx.fields['valid'] = verdict.valid;
      if (verdict.keyId !== undefined) ctx.fields['keyId'] = verdict.keyId;
      if (!verdict.valid) ctx.fields['reason'] = verdict.reason;
      // The signature as it is stored (lowercase), the verifier's algorithm, and the key id when known.
      if (deps.reply === 'json') return JSON.stringify({ ...verdict, signature: text.toLowerCase(), algorithm: deps.algorithm });
      return deps.verifiedReply(verdict.valid);
    },
    formatError: (err: DaemonError) => formatErrorLine(err, deps.reply),
  };
}
