// Follows a log served over HTTP (`signerd log serve`, or any C2SP tlog-tiles server) into a local
// mirror directory: fetches the checkpoint, then only the tiles and entry bundles it does not hold
// yet (full ones never change), checks every file's shape, and leaves the audit to log-audit.ts.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { DaemonError } from '../errors.js';
import { LOG_ENTRY_BYTES_MAX, NOTE_BYTES_MAX } from '../limits.js';
import { checkpointOfNote, verifyCheckpoint, type Checkpoint } from './checkpoint.js';
import { directorySync, writeFileAtomically, type DirectorySync } from './durable-file.js';
import { decodeEntryBundle } from './entry-bundle.js';
import type { NoteVerifierKey } from './note-key.js';
import { CHECKPOINT_PATH, entryBundlePath, tilePath, tilesOfTree, TILE_WIDTH, type TileRef } from './tile-layout.js';

const HASH_BYTES = 32;
/** A full entry bundle at most: 256 entries of at most LOG_ENTRY_BYTES_MAX, each behind a 2-byte length. */
const BUNDLE_BYTES_MAX = TILE_WIDTH * (2 + LOG_ENTRY_BYTES_MAX);

export interface MirrorFetch {
  /** The checkpoint note as served, and what it says (null when it is not one, or does not verify). */
  note: string;
  checkpoint: Checkpoint | null;
  /** Files fetched into the mirror, by relative path: what to take out again if the audit fails. */
  created: string[];
  /** Full files already in the mirror (immutable, so not fetched again) and partials found unchanged. */
  kept: number;
  /** Why the served log cannot be mirrored: a bad checkpoint, a file of the wrong shape, a changed file. */
  problems: string[];
}

/** How the mirror reaches the server: TLS trust and, for a server with client channels, a client certificate. */
export interface MirrorConnection {
  base: URL;
  msMax: number;
  /** https only: the CA (or self-signed certificate) to trust instead of the system's, and a client certificate. */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
}

/** One keep-alive connection for the whole run: a mirror asks for its files one after another. */
function agentFor(conn: MirrorConnection): http.Agent {
  return conn.base.protocol === 'https:'
    ? new https.Agent({ keepAlive: true, maxSockets: 1, ...conn.tls })
    : new http.Agent({ keepAlive: true, maxSockets: 1 });
}

/**
 * One GET, bounded in time (the whole exchange) and size; 404 is null (a partial tile gone once
 * full). Transport failures and other statuses are BACKEND_UNAVAILABLE; a body over the bound is
 * PAYLOAD_TOO_LARGE.
 */
function get(conn: MirrorConnection, agent: http.Agent, relative: string, bytesMax: number): Promise<Buffer | null> {
  const url = new URL(relative, conn.base);
  const unavailable = (why: string, cause?: unknown): DaemonError => new DaemonError('BACKEND_UNAVAILABLE', `GET ${url.href}: ${why}`, { cause });
  return new Promise((resolve, reject) => {
    const req = (url.protocol === 'https:' ? https : http).get(url, { agent }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        if (res.statusCode === 404) resolve(null);
        else reject(unavailable(`HTTP ${res.statusCode}`));
        return;
      }
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > bytesMax) {
          req.destroy();
          reject(new DaemonError('PAYLOAD_TOO_LARGE', `GET ${url.href}: more than ${bytesMax} bytes, more than a ${relative} can hold`));
        } else chunks.push(chunk);
      });
      res.on('end', () => resolve(Buffer.concat(chunks)));
      res.on('error', (err) => reject(unavailable(err.message, err)));
    });
    req.on('error', (err) => reject(unavailable(err.message, err)));
    const timer = setTimeout(() => req.destroy(new Error(`no whole answer within ${conn.msMax} ms`)), conn.msMax);
    req.on('close', () => clearTimeout(timer));
  });
}

/** The first `width` entries of a bundle (a full bundle stands in for a partial that is gone), or null. */
function bundlePrefix(bundle: Buffer, width: number): Buffer | null {
  let at = 0;
  for (let i = 0; i < width; i++) {
    if (at + 2 > bundle.length) return null;
    at += 2 + bundle.readUInt16BE(at);
  }
  return at <= bundle.length ? bundle.subarray(0, at) : null;
}

/** The tile at `width` (or, once it is gone, the first `width` hashes or entries of the full one). */
async function fetchTile(conn: MirrorConnection, agent: http.Agent, tile: TileRef, entries: boolean): Promise<Buffer | null> {
  const at = (width: number): string => (entries ? entryBundlePath({ index: tile.index, width }) : tilePath({ ...tile, width }));
  const bytesMax = entries ? BUNDLE_BYTES_MAX : TILE_WIDTH * HASH_BYTES;
  const data = await get(conn, agent, at(tile.width), bytesMax);
  if (data !== null || tile.width === TILE_WIDTH) return data;
  const full = await get(conn, agent, at(TILE_WIDTH), bytesMax);
  return full && (entries ? bundlePrefix(full, tile.width) : full.subarray(0, tile.width * HASH_BYTES));
}

/**
 * Fetches the served checkpoint and every tile and bundle of its tree that the mirror lacks. Files
 * already in the mirror are never overwritten: a partial served differently is a fork, reported. The
 * checkpoint file itself is not written here: the caller audits the mirror against the fetched note
 * (auditLog's checkpointNote) and writes it only if that passes.
 */
export async function fetchLog(conn: MirrorConnection, dir: string, key: NoteVerifierKey | null): Promise<MirrorFetch> {
  const agent = agentFor(conn);
  const result: MirrorFetch = { note: '', checkpoint: null, created: [], kept: 0, problems: [] };
  // Written as the log writes its own files: whole or not at all, and durable before the checkpoint names them.
  const dirs = directorySync(dir);
  try {
    await fetchInto(conn, agent, dir, key, result, dirs);
    dirs.flush();
  } catch (err) {
    // A body larger than its file can be is the server's fault, reported like a file of the wrong shape.
    if (!(err instanceof DaemonError && err.code === 'PAYLOAD_TOO_LARGE')) throw err;
    result.problems.push(err.message);
  } finally {
    agent.destroy();
  }
  return result;
}

async function fetchInto(
  conn: MirrorConnection,
  agent: http.Agent,
  dir: string,
  key: NoteVerifierKey | null,
  result: MirrorFetch,
  dirs: DirectorySync,
): Promise<void> {
  const served = await get(conn, agent, CHECKPOINT_PATH, NOTE_BYTES_MAX);
  if (!served) throw new DaemonError('NOT_FOUND', `${new URL(CHECKPOINT_PATH, conn.base).href}: no checkpoint served`);
  result.note = served.toString('utf8');
  if (key) {
    const verdict = verifyCheckpoint(result.note, key);
    if (verdict.ok) result.checkpoint = verdict.checkpoint;
    else result.problems.push(`the served checkpoint does not verify: ${verdict.reason}`);
  } else {
    result.checkpoint = checkpointOfNote(result.note);
    if (!result.checkpoint) result.problems.push('the served checkpoint is not a checkpoint');
  }
  if (!result.checkpoint) return;
  const tiles = tilesOfTree(result.checkpoint.size);
  const wanted = [...tiles.map((tile) => ({ tile, entries: false })), ...tiles.filter((t) => t.level === 0).map((tile) => ({ tile, entries: true }))];
  for (const { tile, entries } of wanted) {
    const relative = entries ? entryBundlePath(tile) : tilePath(tile);
    const file = path.join(dir, relative);
    const have = fs.existsSync(file);
    if (have && tile.width === TILE_WIDTH) {
      result.kept++;
      continue;
    }
    const data = await fetchTile(conn, agent, tile, entries);
    const shaped = data !== null && (entries ? decodeEntryBundle(data, tile.width) !== null : data.length === tile.width * HASH_BYTES);
    if (!shaped) {
      result.problems.push(`${relative}: ${data === null ? 'not served' : `not ${entries ? `a bundle of ${tile.width} entries` : `${tile.width} hashes`}`}`);
      return;
    }
    if (have) {
      if (!fs.readFileSync(file).equals(data)) {
        result.problems.push(`${relative}: served differently from the mirror's copy (the log forked)`);
        return;
      }
      result.kept++;
      continue;
    }
    writeFileAtomically(file, data, dirs);
    result.created.push(relative);
  }
}

/** Takes out what a failed mirror run fetched, so the mirror is again exactly what its checkpoint covers. */
export function removeFetched(dir: string, created: readonly string[]): void {
  for (const relative of created) fs.rmSync(path.join(dir, relative), { force: true });
}

/** Puts the audited checkpoint in place: the mirror now covers it. */
export function writeMirroredCheckpoint(dir: string, note: string): void {
  const dirs = directorySync(dir);
  writeFileAtomically(path.join(dir, CHECKPOINT_PATH), Buffer.from(note, 'utf8'), dirs);
  dirs.flush();
}
