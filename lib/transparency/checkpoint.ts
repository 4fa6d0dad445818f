// Checkpoints (https://c2sp.org/tlog-checkpoint): the note text `<origin>\n<tree size>\n<base64
// root hash>\n`, signed as a note. The origin is the log's name and its key's name.
import { canonicalBase64 } from '../protocol/encoding.js';
import { HASH_BYTES } from './merkle-hash.js';
import { parseSignedNote, verifyNote, type NoteVerdict } from './signed-note.js';
import type { NoteVerifierKey } from './note-key.js';

export interface Checkpoint {
  origin: string;
  size: number;
  root: Buffer;
}

export function checkpointText(c: Checkpoint): string {
  return `${c.origin}\n${c.size}\n${c.root.toString('base64')}\n`;
}

/** The checkpoint in a note's text; null when the text is not one. Extension lines are allowed and ignored. */
export function parseCheckpointText(text: string): Checkpoint | null {
  const lines = text.split('\n');
  if (lines.length < 4 || lines[lines.length - 1] !== '') return null;
  const [origin, sizeText, rootText] = lines as [string, string, string];
  if (origin.length === 0 || !/^(0|[1-9][0-9]*)$/.test(sizeText) || lines.slice(3, -1).some((l) => l.length === 0)) return null;
  const size = Number(sizeText);
  if (!Number.isSafeInteger(size)) return null;
  const root = canonicalBase64(rootText);
  return root?.length === HASH_BYTES ? { origin, size, root } : null;
}

/** The checkpoint a signed note carries, its signatures not checked (verifyCheckpoint checks them); null when it is not one. */
export function checkpointOfNote(note: string): Checkpoint | null {
  const parsed = parseSignedNote(note);
  return parsed && parseCheckpointText(parsed.text);
}

export type CheckpointVerdict = { ok: true; checkpoint: Checkpoint } | { ok: false; reason: string };

/** Verifies the note's signature by `key` and that its origin is the key's name. */
export function verifyCheckpoint(note: string, key: NoteVerifierKey): CheckpointVerdict {
  const verdict: NoteVerdict = verifyNote(note, key);
  if (!verdict.ok) return verdict;
  const checkpoint = parseCheckpointText(verdict.text);
  if (!checkpoint) return { ok: false, reason: 'the note is not a checkpoint (origin, size, root hash)' };
  if (checkpoint.origin !== key.name)
    return { ok: false, reason: `the checkpoint's origin ${JSON.stringify(checkpoint.origin)} is not the key's name ${key.name}` };
  return { ok: true, checkpoint };
}
