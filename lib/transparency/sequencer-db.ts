// The log's durable sequencer: a SQLite database (WAL, synchronous=FULL) in the log directory that
// numbers entries and stores every complete subtree hash. Its write lock is the one lock the
// processes sharing a log take; a committed append is durable. Tiles and checkpoints are derived.
import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { DaemonError } from '../errors.js';
import { leafHash, nodeHash } from './merkle-hash.js';
import { rootHash, type NodeSource } from './merkle-tree.js';
import { retryWhileBusy } from '../store/sqlite-busy-retry.js';
import { sqliteFileIdentity } from '../store/sqlite-file-identity.js';

export const SEQUENCER_FILE = 'sequencer.sqlite';
const SCHEMA_VERSION = 1;

interface SequencedEntry {
  bytes: Buffer;
  /** Lookup key (the signature an entry is about), or null. */
  signature: Buffer | null;
}

export interface AppendResult {
  /** Index of the batch's first entry; the others follow in order. */
  first: number;
  size: number;
  root: Buffer;
}

export interface PublishedState {
  size: number;
  note: string;
}

export interface Sequencer extends NodeSource {
  readonly origin: string;
  /** The `count` stored hashes at `level` from index `from` on (a tile's contents). */
  nodes(level: number, from: number, count: number): Buffer[];
  size(): number;
  append(entries: readonly SequencedEntry[]): AppendResult;
  entries(from: number, to: number): Buffer[];
  published(): PublishedState | null;
  /** Runs fn in a write transaction: no other process appends or publishes meanwhile. */
  withWriteLock<T>(fn: () => T): T;
  /**
   * Readiness: takes the write lock, waiting at most waitMs (throws SQLITE_BUSY after), and commits one
   * small durable write under it (the time of this probe, in meta): a lock taken and given back
   * writes nothing, and so passes where every append fails (a full disk, a log file that refuses writes).
   */
  probeWrite(waitMs: number): void;
  /** Records the published checkpoint; only inside withWriteLock. */
  setPublished(state: PublishedState): void;
  findBySignature(signature: Buffer): number[];
  close(): void;
}

export interface SequencerOptions {
  /** Required to create a log; checked against the stored one otherwise. */
  origin?: string;
  /** How long to wait for another process holding the write lock. */
  lockWaitMsMax: number;
  readonly?: boolean;
  /**
   * false: this connection's commits never checkpoint the WAL (a connection on a daemon's event loop,
   * which must not spend a commit copying pages); the writer thread's commits and checkpoint records do.
   */
  autoCheckpoint?: boolean;
}

export function openSequencer(dir: string, opts: SequencerOptions): Sequencer {
  const file = path.join(dir, SEQUENCER_FILE);
  // timeout 0: SQLite's own busy handler sleeps in steps of 1 to 100 ms; retryWhileBusy waits finer.
  const db = new Database(file, { timeout: 0, readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false });
  const locked = <T>(fn: () => T): T => retryWhileBusy(opts.lockWaitMsMax, fn);
  // The file this connection writes must stay the log's: a log directory removed (a clean-up job, a
  // mistaken rm) or replaced under a running daemon would take every later commit into an unlinked
  // file, lost at the next restart, while a new database at the same path started another tree that
  // the same key signs (a fork). Checked after every commit and before every publish.
  const identity = sqliteFileIdentity(file);
  const inPlace = (): void => {
    const moved = identity(true);
    if (moved === null) return;
    throw new DaemonError(
      'LOG_UNAVAILABLE',
      `${moved.change} while this process had it open: nothing more is logged in it; put the log directory back and restart (docs/transparency-log.md): ${moved.file}`,
    );
  };
  let origin: string;
  try {
    if (!opts.readonly) {
      locked(() => db.pragma('journal_mode = WAL'));
      db.pragma('synchronous = FULL');
      if (opts.autoCheckpoint === false) db.pragma('wal_autocheckpoint = 0');
    }
    origin = locked(() => prepareSchema(db, opts));
  } catch (err) {
    db.close();
    throw err;
  }

  const selectSize = db.prepare('SELECT coalesce(max(idx) + 1, 0) FROM entries').pluck();
  const selectNode = db.prepare('SELECT hash FROM nodes WHERE level = ? AND idx = ?').pluck();
  const selectNodes = db.prepare('SELECT hash FROM nodes WHERE level = ? AND idx >= ? AND idx < ? ORDER BY idx').pluck();
  const selectEntries = db.prepare('SELECT data FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx').pluck();
  const selectMeta = db.prepare('SELECT value FROM meta WHERE key = ?').pluck();
  const selectBySignature = db.prepare('SELECT idx FROM entries WHERE signature = ? ORDER BY idx').pluck();
  const insertEntry = opts.readonly ? null : db.prepare('INSERT INTO entries (idx, data, signature) VALUES (?, ?, ?)');
  const insertNode = opts.readonly ? null : db.prepare('INSERT INTO nodes (level, idx, hash) VALUES (?, ?, ?)');
  const upsertMeta = opts.readonly ? null : db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value');

  const node = (level: number, index: number): Buffer => {
    const hash = selectNode.get(level, index) as Buffer | undefined;
    if (!hash) throw new DaemonError('INTERNAL', `log node ${level}/${index} is missing`);
    return hash;
  };

  const appendTx = db.transaction((entries: readonly SequencedEntry[]): AppendResult => {
    const first = selectSize.get() as number;
    // Hashes written in this batch are read back from memory; older ones from the table.
    const fresh = new Map<string, Buffer>();
    const get = (level: number, index: number): Buffer => fresh.get(`${level}/${index}`) ?? node(level, index);
    const put = (level: number, index: number, hash: Buffer): void => {
      fresh.set(`${level}/${index}`, hash);
      insertNode!.run(level, index, hash);
    };
    entries.forEach((entry, i) => {
      const index = first + i;
      insertEntry!.run(index, entry.bytes, entry.signature);
      let hash = leafHash(entry.bytes);
      put(0, index, hash);
      // Each odd index completes a subtree with its left sibling, and so on up.
      for (let level = 0, j = index; j % 2 === 1; level++, j = (j - 1) / 2) {
        hash = nodeHash(get(level, j - 1), hash);
        put(level + 1, (j - 1) / 2, hash);
      }
    });
    const size = first + entries.length;
    return { first, size, root: rootHash({ node: get }, size) };
  });

  const publishedState = (): PublishedState | null => {
    const size = selectMeta.get('published_size') as string | undefined;
    const note = selectMeta.get('published_note') as string | undefined;
    return size === undefined || note === undefined ? null : { size: Number(size), note };
  };

  return {
    origin,
    node,
    nodes: (level, from, count) => {
      const hashes = selectNodes.all(level, from, from + count) as Buffer[];
      if (hashes.length !== count) throw new DaemonError('INTERNAL', `log nodes ${level}/${from}+${count} are missing`);
      return hashes;
    },
    size: () => selectSize.get() as number,
    append: (entries) => {
      const result = locked(() => appendTx.immediate(entries));
      // Durable in the log's own file, or not at all: the caller withholds what it logged.
      inPlace();
      return result;
    },
    entries: (from, to) => selectEntries.all(from, to) as Buffer[],
    published: publishedState,
    withWriteLock: (fn) =>
      locked(() =>
        db
          .transaction(() => {
            inPlace();
            return fn();
          })
          .immediate(),
      ),
    probeWrite: (waitMs) => {
      retryWhileBusy(Math.min(waitMs, opts.lockWaitMsMax), () => db.transaction(() => upsertMeta!.run('readiness_probe_ms', String(Date.now()))).immediate());
      inPlace();
    },
    setPublished: (state) => {
      upsertMeta!.run('published_size', String(state.size));
      upsertMeta!.run('published_note', state.note);
    },
    findBySignature: (signature) => selectBySignature.all(signature) as number[],
    close: () => db.close(),
  };
}

/** The origin a database names; undefined before its tables are made. */
function originIn(db: Database.Database): string | undefined {
  const hasMeta = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get();
  return hasMeta ? (db.prepare("SELECT value FROM meta WHERE key = 'origin'").pluck().get() as string | undefined) : undefined;
}

/**
 * The name a log's database holds, or undefined when it has none yet: no file, or a file another
 * process has just made and not yet given its tables (several daemons starting on one new log).
 */
export function storedOrigin(dir: string, lockWaitMsMax: number): string | undefined {
  const file = path.join(dir, SEQUENCER_FILE);
  if (!fs.existsSync(file)) return undefined;
  const db = new Database(file, { timeout: 0, readonly: true, fileMustExist: true });
  try {
    return retryWhileBusy(lockWaitMsMax, () => originIn(db));
  } finally {
    db.close();
  }
}

/** Creates the tables on first use (one process wins; the others find them) and checks the origin. */
function prepareSchema(db: Database.Database, opts: SequencerOptions): string {
  const stored = (): string | undefined => originIn(db);
  const check = (found: string): string => {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version !== SCHEMA_VERSION)
      throw new DaemonError('CONFIG_INVALID', `log database schema ${version} is not ${SCHEMA_VERSION}; use the signerd that wrote it`);
    if (opts.origin !== undefined && opts.origin !== found)
      throw new DaemonError('CONFIG_INVALID', `this log is named ${found}, not ${opts.origin} (the log key's name)`);
    return found;
  };
  const existing = stored();
  if (existing !== undefined) return check(existing);
  if (opts.readonly) throw new DaemonError('CONFIG_INVALID', 'the log database is empty');
  if (opts.origin === undefined) throw new DaemonError('CONFIG_INVALID', "a new log needs its name (the log key's name)");
  return db
    .transaction(() => {
      const raced = stored();
      if (raced !== undefined) return check(raced);
      db.exec(`
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
        CREATE TABLE entries (idx INTEGER PRIMARY KEY, data BLOB NOT NULL, signature BLOB);
        CREATE INDEX entries_by_signature ON entries (signature) WHERE signature IS NOT NULL;
        CREATE TABLE nodes (level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (level, idx)) WITHOUT ROWID;
      `);
      db.prepare("INSERT INTO meta (key, value) VALUES ('origin', ?)").run(opts.origin);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
      return opts.origin!;
    })
    .immediate();
}
