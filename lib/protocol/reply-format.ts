// Wire form of errors and JSON replies on the line protocol. `seed` mode keeps the seed
// daemons' text replies and adds `ERR <CODE> <text>`; `json` mode is one object per line.
import type { DaemonError } from '../errors.js';

export type ReplyMode = 'seed' | 'json';

/** One line, whatever the message holds: newlines would break the one-reply-per-line contract. */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').slice(0, 300);
}

export function formatErrorLine(err: DaemonError, mode: ReplyMode): string {
  if (mode === 'json') return JSON.stringify({ error: { code: err.code, message: oneLine(err.message) } });
  return `ERR ${err.code} ${oneLine(err.message)}`;
}
