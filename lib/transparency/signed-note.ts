// Signed notes (https://c2sp.org/signed-note): text ending in a newline, a blank line, then one
// line per signature, `— <name> base64(key id ‖ signature)`. Verification follows the spec:
// signatures by unknown keys are ignored, a known key's signature must verify, and at least one must.
import crypto from 'node:crypto';
import { NOTE_BYTES_MAX, NOTE_SIGNATURES_MAX } from '../limits.js';
import { canonicalBase64 } from '../protocol/encoding.js';
import { isValidKeyName, publicKeyObject, type NoteVerifierKey } from './note-key.js';

const SIGNATURE_PREFIX = '\u2014 ';

export interface NoteSignature {
  name: string;
  keyId: number;
  signature: Buffer;
}

export interface ParsedNote {
  text: string;
  signatures: NoteSignature[];
}

export function formatSignedNote(text: string, signatures: readonly NoteSignature[]): string {
  if (!text.endsWith('\n')) throw new RangeError('note text must end with a newline');
  const lines = signatures.map((s) => {
    const keyId = Buffer.alloc(4);
    keyId.writeUInt32BE(s.keyId);
    return `${SIGNATURE_PREFIX}${s.name} ${Buffer.concat([keyId, s.signature]).toString('base64')}\n`;
  });
  return `${text}\n${lines.join('')}`;
}

/** Splits a signed note; null when it is not well formed (no signature block, control characters, too big). */
export function parseSignedNote(note: string): ParsedNote | null {
  // eslint-disable-next-line no-control-regex -- a signed note may hold no control character but LF; this finds them.
  if (Buffer.byteLength(note, 'utf8') > NOTE_BYTES_MAX || /[\u0000-\u0009\u000b-\u001f\ufffd]/.test(note)) return null;
  const split = note.lastIndexOf('\n\n');
  if (split < 0) return null;
  const text = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  if (block.length === 0 || !block.endsWith('\n')) return null;
  const signatures: NoteSignature[] = [];
  for (const line of block.slice(0, -1).split('\n')) {
    if (!line.startsWith(SIGNATURE_PREFIX)) return null;
    const rest = line.slice(SIGNATURE_PREFIX.length);
    const space = rest.indexOf(' ');
    if (space < 0) return null;
    const name = rest.slice(0, space);
    const b64 = rest.slice(space + 1);
    const raw = isValidKeyName(name) ? canonicalBase64(b64) : null;
    if (raw === null || raw.length < 5) return null;
    signatures.push({ name, keyId: raw.readUInt32BE(0), signature: raw.subarray(4) });
    if (signatures.length > NOTE_SIGNATURES_MAX) return null;
  }
  return { text, signatures };
}

export type NoteVerdict = { ok: true; text: string } | { ok: false; reason: string };

/** Verifies a note against one trusted key; a bad note is an answer, not an exception. */
export function verifyNote(note: string, key: NoteVerifierKey): NoteVerdict {
  const parsed = parseSignedNote(note);
  if (!parsed) return { ok: false, reason: 'malformed signed note' };
  const mine = parsed.signatures.filter((s) => s.name === key.name && s.keyId === key.keyId);
  if (mine.length === 0) return { ok: false, reason: `no signature by ${key.name} (key id ${key.keyId.toString(16).padStart(8, '0')})` };
  const publicKey = publicKeyObject(key.publicKey);
  for (const s of mine) {
    if (!crypto.verify(null, Buffer.from(parsed.text, 'utf8'), publicKey, s.signature))
      return { ok: false, reason: `the signature by ${key.name} does not verify` };
  }
  return { ok: true, text: parsed.text };
}
