// Finds the entries about one signature: through the sequencer database's index when the log
// directory has it, else (a mirror holds only tiles) by reading every entry bundle.
import fs from 'node:fs';
import path from 'node:path';
import { LOG_LOCK_WAIT_MS_MAX } from '../limits.js';
import { decodeLogEntry } from './log-entry.js';
import { openSequencer, SEQUENCER_FILE } from './sequencer-db.js';
import type { PublishedTree } from './tile-reader.js';

interface FoundEntry {
  index: number;
  entry: Buffer;
  decoded: Record<string, unknown> | null;
}

export interface LookupResult {
  /** Entries inside the published tree, in log order. */
  published: FoundEntry[];
  /** Indexes of durable entries not yet covered by a checkpoint. */
  unpublished: number[];
}

/** The sequencer's index, or null when there is none this user may read (a mirror, another owner). */
function lookupInDatabase(dir: string, signature: Buffer): number[] | null {
  if (!fs.existsSync(path.join(dir, SEQUENCER_FILE))) return null;
  try {
    const seq = openSequencer(dir, { lockWaitMsMax: LOG_LOCK_WAIT_MS_MAX, readonly: true });
    try {
      return seq.findBySignature(signature);
    } finally {
      seq.close();
    }
  } catch {
    return null;
  }
}

function scan(tree: PublishedTree, hex: string): number[] {
  const indexes: number[] = [];
  for (let i = 0; i < tree.size; i++) if (decodeLogEntry(tree.entry(i))?.['signature'] === hex) indexes.push(i);
  return indexes;
}

export function findEntriesBySignature(dir: string, tree: PublishedTree, signature: Buffer): LookupResult {
  const hex = signature.toString('hex');
  const indexes = lookupInDatabase(dir, signature) ?? scan(tree, hex);
  const published = indexes
    .filter((i) => i < tree.size)
    .map((index) => {
      const entry = tree.entry(index);
      return { index, entry, decoded: decodeLogEntry(entry) };
    })
    // The index is the writer's; the published entry itself must say so.
    .filter((f) => f.decoded?.['signature'] === hex);
  return { published, unpublished: indexes.filter((i) => i >= tree.size) };
}
