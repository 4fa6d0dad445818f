// The key root with a transparency log: every signature a key makes is appended as a sign entry
// (key id, scheme, SHA-256 of the bytes signed, the slot as format, the artifact's name when the
// request names one) and resolves only once the entry is durable, so no firmware signature leaves unlogged.
import crypto from 'node:crypto';
import { DIGEST_SCHEMES, type DigestScheme } from '../../../lib/crypto/digest-schemes.js';
import type { LogEvent } from '../../../lib/transparency/log-entry.js';
import type { DigestSigner } from '../formats/digest-signer.js';
import type { KeyRoot } from './key-root.js';
import type { KeySlot } from './key-slots.js';

/** The log's one operation this wrapper needs. */
export interface FirmwareAudit {
  append(event: LogEvent): Promise<number>;
}

/** Wraps every signer the root hands out; lookups and public facts are unchanged. */
export function auditedKeyRoot(root: KeyRoot, audit: FirmwareAudit): KeyRoot {
  return {
    signer: (selector, slot, artifact) => auditedSigner(root.signer(selector, slot), slot, artifact, audit),
    habSrks: (machine) => root.habSrks(machine),
    entries: () => root.entries(),
    keys: () => root.keys(),
    close: () => root.close(),
  };
}

function auditedSigner(signer: DigestSigner, slot: KeySlot, artifact: string | undefined, audit: FirmwareAudit): DigestSigner {
  const logged = async (scheme: DigestScheme, signature: Buffer, signed: { message: Buffer } | { digest: Buffer }): Promise<Buffer> => {
    const hash = DIGEST_SCHEMES[scheme].digest;
    // A digest flow hands over only the digest: it is the SHA-256 of the bytes signed when the scheme
    // hashes with SHA-256; any other digest is logged as the client sent it.
    const sha256 = 'message' in signed ? crypto.createHash('sha256').update(signed.message).digest() : hash === 'sha256' ? signed.digest : undefined;
    const firmware = {
      format: slot,
      ...(artifact === undefined ? {} : { artifact }),
      ...('digest' in signed && sha256 === undefined ? { digest: `${hash}:${signed.digest.toString('hex')}` } : {}),
    };
    await audit.append({
      kind: 'sign',
      source: 'firmware',
      keyId: signer.keyId,
      algorithm: scheme,
      ...(sha256 === undefined ? {} : { messageSha256: sha256 }),
      signature,
      firmware,
    });
    return signature;
  };
  return {
    ...signer,
    sign: async (scheme, digest) => logged(scheme, await signer.sign(scheme, digest), { digest }),
    signMessage: async (scheme, message) => logged(scheme, await signer.signMessage(scheme, message), { message }),
  };
}

/** One key-loaded entry per key of the root: its id, slot, backend and public key. */
export function keyLoadedEvents(root: KeyRoot): LogEvent[] {
  return root.keys().map(({ slot, backend, signer }) => ({
    kind: 'key-loaded',
    source: 'firmware',
    keyId: signer.keyId,
    algorithm: `${slot} ${signer.description}`,
    backend,
    publicKey: signer.publicKey.export({ type: 'spki', format: 'der' }),
  }));
}
