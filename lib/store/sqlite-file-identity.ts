// An SQLite database a process keeps open must stay the one at its path. A state directory removed,
// renamed away or replaced under a running daemon (a restore, an rsync, a clean-up job), or its
// write-ahead log deleted, leaves the connection on unlinked files: what it writes is lost at the
// next restart, and what it reads is no longer what admin commands and the other daemons see.
import fs from 'node:fs';
import path from 'node:path';

/**
 * What moved: `change` names the file by its base name first ("validity.sqlite was removed"), so a
 * client's reply (cut at 300 characters) keeps it however deep the state directory is; `file` is the
 * whole path, which a message puts last.
 */
export interface FileMoved {
  change: string;
  file: string;
}

/**
 * Remembers the database file (and its -wal, once SQLite has made it) as opened; the returned check
 * says what changed since, or null. `withLog`: the -wal too (writes go there; a read is answered
 * from both, but a deleted -wal alone leaves every reader on the same unlinked log, consistent).
 */
export function sqliteFileIdentity(file: string): (withLog: boolean) => FileMoved | null {
  const opened = fs.statSync(file);
  const logFile = `${file}-wal`;
  let log = fs.statSync(logFile, { throwIfNoEntry: false });
  const same = (a: fs.Stats, b: fs.Stats): boolean => a.ino === b.ino && a.dev === b.dev;
  return (withLog) => {
    const now = fs.statSync(file, { throwIfNoEntry: false });
    if (!now) return moved(file, 'removed');
    if (!same(now, opened)) return moved(file, 'replaced');
    if (!withLog) return null;
    const logNow = fs.statSync(logFile, { throwIfNoEntry: false });
    if (log === undefined) {
      log = logNow;
      return null;
    }
    return logNow && same(logNow, log) ? null : moved(logFile, logNow ? 'replaced' : 'removed');
  };
}

function moved(file: string, how: 'removed' | 'replaced'): FileMoved {
  return { change: `${path.basename(file)} was ${how}`, file };
}
