// The text forms `signerd log prove` and `signerd log consistency` print: a header line naming the
// proof and its sizes, the root hash(es), then one base64 hash per line (RFC 6962 order).
import { canonicalBase64 } from '../protocol/encoding.js';
import { HASH_BYTES } from './merkle-hash.js';

export interface InclusionProof {
  index: number;
  size: number;
  root: Buffer;
  proof: Buffer[];
}

export interface ConsistencyProof {
  oldSize: number;
  newSize: number;
  oldRoot: Buffer;
  newRoot: Buffer;
  proof: Buffer[];
}

const b64 = (h: Buffer): string => h.toString('base64');
const lines = (hashes: Buffer[]): string => hashes.map((h) => `${b64(h)}\n`).join('');

export function formatInclusionProof(p: InclusionProof): string {
  return `inclusion ${p.index} ${p.size}\nroot ${b64(p.root)}\n${lines(p.proof)}`;
}

export function formatConsistencyProof(p: ConsistencyProof): string {
  return `consistency ${p.oldSize} ${p.newSize}\nold-root ${b64(p.oldRoot)}\nnew-root ${b64(p.newRoot)}\n${lines(p.proof)}`;
}

/** One base64 SHA-256 hash, or null. */
export function parseHash(text: string): Buffer | null {
  const hash = canonicalBase64(text);
  return hash?.length === HASH_BYTES ? hash : null;
}

function parseNumber(text: string | undefined): number | null {
  return text !== undefined && /^(0|[1-9][0-9]*)$/.test(text) && Number.isSafeInteger(Number(text)) ? Number(text) : null;
}

function parseHashes(rest: string[]): Buffer[] | null {
  const hashes = rest.map(parseHash);
  return hashes.every((h) => h !== null) ? hashes : null;
}

function splitLines(text: string): string[] | null {
  if (!text.endsWith('\n')) return null;
  return text.slice(0, -1).split('\n');
}

export function parseInclusionProof(text: string): InclusionProof | null {
  const all = splitLines(text);
  if (!all || all.length < 2) return null;
  const [header, rootLine, ...rest] = all as [string, string, ...string[]];
  const [word, indexText, sizeText, extra] = header.split(' ');
  const index = parseNumber(indexText);
  const size = parseNumber(sizeText);
  const root = rootLine.startsWith('root ') ? parseHash(rootLine.slice(5)) : null;
  const proof = parseHashes(rest);
  if (word !== 'inclusion' || extra !== undefined || index === null || size === null || !root || !proof) return null;
  return { index, size, root, proof };
}
