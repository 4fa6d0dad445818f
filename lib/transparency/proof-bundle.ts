// The offline bundle of one entry: a C2SP tlog-proof (https://c2sp.org/tlog-proof) whose extra
// data is the entry itself, then its index, its inclusion proof and the signed checkpoint. The
// log's verifier key is all a verifier needs.
import { canonicalBase64 } from '../protocol/encoding.js';
import { LOG_ENTRY_BYTES_MAX } from '../limits.js';
import { leafHash } from './merkle-hash.js';
import { verifyInclusion } from './merkle-proof-check.js';
import { verifyCheckpoint, type Checkpoint } from './checkpoint.js';
import { parseHash } from './proof-text.js';
import type { NoteVerifierKey } from './note-key.js';

const TLOG_PROOF_HEADER = 'c2sp.org/tlog-proof@v1';

export interface ProofBundle {
  entry: Buffer;
  index: number;
  proof: Buffer[];
  /** The signed checkpoint note, verbatim. */
  checkpointNote: string;
}

export function formatProofBundle(b: ProofBundle): string {
  return `${TLOG_PROOF_HEADER}\nextra ${b.entry.toString('base64')}\nindex ${b.index}\n${b.proof.map((h) => `${h.toString('base64')}\n`).join('')}\n${b.checkpointNote}`;
}

export function parseProofBundle(text: string): ProofBundle | null {
  const blank = text.indexOf('\n\n');
  if (blank < 0) return null;
  const [header, extra, indexLine, ...hashLines] = text.slice(0, blank).split('\n') as [string, string?, string?, ...string[]];
  if (header !== TLOG_PROOF_HEADER || !extra?.startsWith('extra ') || !indexLine?.startsWith('index ')) return null;
  const entry = canonicalBase64(extra.slice(6));
  if (entry === null || entry.length > LOG_ENTRY_BYTES_MAX) return null;
  const indexText = indexLine.slice(6);
  if (!/^(0|[1-9][0-9]*)$/.test(indexText) || !Number.isSafeInteger(Number(indexText))) return null;
  const proof = hashLines.map(parseHash);
  if (!proof.every((h) => h !== null)) return null;
  return { entry, index: Number(indexText), proof: proof, checkpointNote: text.slice(blank + 2) };
}

export type BundleVerdict = { ok: true; bundle: ProofBundle; checkpoint: Checkpoint } | { ok: false; reason: string };

/** Checks the checkpoint's signature and origin, then the entry's inclusion in that tree. */
export function verifyProofBundle(text: string, key: NoteVerifierKey): BundleVerdict {
  const bundle = parseProofBundle(text);
  if (!bundle) return { ok: false, reason: `not a ${TLOG_PROOF_HEADER} bundle with the entry as extra data` };
  const verdict = verifyCheckpoint(bundle.checkpointNote, key);
  if (!verdict.ok) return verdict;
  const { checkpoint } = verdict;
  if (!verifyInclusion(bundle.index, checkpoint.size, leafHash(bundle.entry), bundle.proof, checkpoint.root)) {
    return { ok: false, reason: `the inclusion proof of entry ${bundle.index} does not lead to the checkpoint's root at size ${checkpoint.size}` };
  }
  return { ok: true, bundle, checkpoint };
}
