// The log's public files over HTTP, read-only, for auditors and witnesses that mirror the log: the
// checkpoint and the C2SP tlog-tiles paths (tile/<L>/<N>[.p/<W>], tile/entries/<N>[.p/<W>]), and
// nothing else in the directory (the sequencer's database is not public). GET and HEAD only.
import fs from 'node:fs/promises';
import path from 'node:path';
import { DaemonError } from '../errors.js';
import { HTTP_STATUS } from '../protocol/http-status.js';
import { formatErrorLine } from '../protocol/reply-format.js';
import type { HttpService } from '../server/http-service.js';
import { CHECKPOINT_PATH } from './tile-layout.js';

/**
 * The spec's grammar, and only it: level 0..63 or `entries`, index in 3-digit groups with all but
 * the last prefixed `x`, optional partial width 1..255. Nothing else maps to a file, so no request
 * can name `..`, a hidden file or the database.
 */
const TILE_PATH = /^\/tile\/(?:entries|[0-9]|[1-5][0-9]|6[0-3])\/(?:x[0-9]{3}\/)*[0-9]{3}(\.p\/(?:[1-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5]))?$/;

/** Full tiles never change (tlog-tiles: cacheable indefinitely); partials and the checkpoint move on. */
const IMMUTABLE = 'public, max-age=31536000, immutable';
const CHANGING = 'no-cache';
/** Files up to this size are read whole rather than streamed. */
const SMALL_FILE_BYTES_MAX = 64 * 1024;

export function createTileHttpService(dir: string): HttpService {
  const root = path.resolve(dir);

  /** Whether the file, every link on its way resolved, is under the log directory (itself perhaps reached through a link). */
  async function insideLog(file: string): Promise<boolean> {
    const [realRoot, realFile] = await Promise.all([fs.realpath(root), fs.realpath(file)]).catch(() => [null, null]);
    return realRoot !== null && realFile !== null && realFile.startsWith(realRoot + path.sep);
  }

  const isCheckpointThere = (): Promise<boolean> =>
    fs.lstat(path.join(root, CHECKPOINT_PATH)).then(
      (stat) => stat.isFile(),
      () => false,
    );

  /** The file a request path names, with its caching, or NOT_FOUND. */
  function fileOf(requestPath: string): { file: string; cache: string; type: string } {
    if (requestPath === `/${CHECKPOINT_PATH}`) return { file: path.join(root, CHECKPOINT_PATH), cache: CHANGING, type: 'text/plain; charset=utf-8' };
    const tile = TILE_PATH.exec(requestPath);
    if (!tile) throw new DaemonError('NOT_FOUND', 'no such path: the log serves /checkpoint and /tile/… (C2SP tlog-tiles)');
    return { file: path.join(root, requestPath.slice(1)), cache: tile[1] === undefined ? IMMUTABLE : CHANGING, type: 'application/octet-stream' };
  }

  return {
    async handle(req, ctx) {
      // Every path is read-only, known or not: the method is refused before the path is looked up.
      if (req.method !== 'GET' && req.method !== 'HEAD')
        throw new DaemonError('METHOD_NOT_ALLOWED', 'the log is read-only: GET or HEAD', { allow: ['GET', 'HEAD'] });
      const { file, cache, type } = fileOf(req.path);
      // Regular files inside the log only: a symlink planted in the log directory, as the file or as
      // a folder on its path, is not followed out of it.
      const stat = await fs.lstat(file).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return null;
        throw new DaemonError('LOG_UNAVAILABLE', `${req.path}: the log cannot be read (${err.code ?? 'error'})`);
      });
      // A file missing from a log that is there is a tile it does not have (yet); a log without its
      // checkpoint (its directory moved or removed) is an outage, which a mirror should retry.
      if (stat === null && !(await isCheckpointThere()))
        throw new DaemonError('LOG_UNAVAILABLE', 'the log has no checkpoint: its directory was moved or removed, or nothing is published yet');
      if (!stat?.isFile() || !(await insideLog(file)))
        throw new DaemonError('NOT_FOUND', `${req.path}: not in the log (a partial tile goes once its tile is full)`);
      ctx.fields['bytes'] = stat.size;
      const headers = { 'content-type': type, 'cache-control': cache };
      // Tiles (8 KiB at most) and the checkpoint are read whole: a stream's machinery costs more than
      // the read. Entry bundles, up to 16 MiB, are streamed.
      if (stat.size <= SMALL_FILE_BYTES_MAX) return { status: 200, headers, body: await fs.readFile(file) };
      return { status: 200, headers, file };
    },
    formatError(err) {
      const headers = { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' };
      return { status: HTTP_STATUS[err.code], headers, body: `${formatErrorLine(err, 'seed')}\n` };
    },
  };
}
