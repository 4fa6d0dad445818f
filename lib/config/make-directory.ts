// `mkdir -p` for the directories an operator names (state, log, output): one mkdir per missing
// component, so a path no directory can be made in fails at once with its error. Node's recursive
// mkdir loops forever on such a path under /proc (ENOENT for ever), hanging a daemon's start.
import fs from 'node:fs';
import path from 'node:path';

/**
 * Makes `dir` and its missing parents with `mode`; returns the first directory made (absolute), or
 * undefined if none was missing. Something other than a directory in the way fails, as mkdir -p does.
 */
export function makeDirectory(dir: string, mode: number): string | undefined {
  const missing: string[] = [];
  let at = path.resolve(dir);
  for (; !fs.existsSync(at); at = path.dirname(at)) {
    missing.unshift(at);
    if (path.dirname(at) === at) break;
  }
  if (fs.existsSync(at) && !fs.statSync(at).isDirectory()) {
    throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${at}'`), { code: 'ENOTDIR', syscall: 'mkdir', path: at });
  }
  for (const d of missing) {
    try {
      fs.mkdirSync(d, { mode });
    } catch (err) {
      // Made meanwhile by another process (two daemons starting on one state directory): fine.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || !fs.statSync(d).isDirectory()) throw err;
    }
  }
  return missing[0];
}
