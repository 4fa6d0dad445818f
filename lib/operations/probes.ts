// Readiness probes shared by daemons: a signing key makes a signature that verifies with its public
// key, a validity store takes a write and reads it back (a SQLite state directory takes a synced file),
// and a directory a daemon serves from stays readable.
import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { DaemonError } from '../errors.js';
import { verifyAsync } from '../crypto/signature-algorithms.js';
import { KEY_PROBE_INTERVAL_MS, STORE_PROBE_INTERVAL_MS } from '../limits.js';
import type { SigningKey } from '../keys/signing-key.js';
import type { ValidityStore } from '../store/validity-store.js';
import type { ProbeTrigger, ReadinessPart } from './readiness.js';

/** What the probe signs: fixed and public, so a probe signature is worth nothing to anyone. */
export const PROBE_MESSAGE = Buffer.from('signerd readiness probe');
/** A probe record lives this long (a Redis key expires by itself; SQLite's and PostgreSQL's purge remove it; etcd probes without one). */
const PROBE_RECORD_MS = 60_000;

export function signingKeyPart(key: SigningKey): ReadinessPart {
  return keyPart(key.keyId, async () => verifyAsync(key.algorithm, key.publicKey, PROBE_MESSAGE, await key.sign(PROBE_MESSAGE)));
}

/** A key's part, whatever the key: `signsAndVerifies` makes a probe signature and checks it with the public key. */
export function keyPart(keyName: string, signsAndVerifies: () => Promise<boolean>): ReadinessPart {
  return {
    name: `key ${keyName}`,
    intervalMs: KEY_PROBE_INTERVAL_MS,
    reprobeOnFault: true,
    async probe() {
      if (!(await signsAndVerifies())) throw new DaemonError('SIGNATURE_CHECK_FAILED', 'the key made a signature that does not verify with its public key');
    },
  };
}

/**
 * Sign daemons: a record written and read back (the probe's own random key, so daemons sharing a
 * store never meet each other's probes); verify daemons, which only read, a lookup. On SQLite, the
 * state directory must also take a new synced file: the database's own files may still be open and
 * writable when the directory no longer is, and then the next start (or a verify daemon's) fails.
 */
export function validityStorePart(store: ValidityStore, opts: { write: boolean; stateDir: string | null; changes?: ProbeTrigger }): ReadinessPart {
  const probeId = randomBytes(16).toString('hex');
  return {
    name: 'store',
    intervalMs: STORE_PROBE_INTERVAL_MS,
    timeoutCode: 'STORE_UNAVAILABLE',
    ...(opts.changes ? { changes: opts.changes } : {}),
    async probe() {
      if (opts.stateDir !== null) await probeDirectory(opts.stateDir, probeId);
      if (!opts.write) {
        await store.getLive(probeId);
        return;
      }
      if (store.probeWrite) {
        await store.probeWrite(probeId);
        return;
      }
      const nonce = randomBytes(16);
      const signature = probeId + nonce.toString('hex');
      const now = Date.now();
      await store.put({ signature, message: nonce, keyId: 'readiness-probe', algorithm: 'none', createdMs: now, expiresMs: now + PROBE_RECORD_MS });
      const back = await store.getLive(signature);
      if (!back?.message.equals(nonce)) throw new DaemonError('STORE_UNAVAILABLE', 'a record written to the store did not read back');
    },
  };
}

const PROBE_FILE_PREFIX = '.readiness-probe-';
/** A probe file this old is no live probe's (each lasts its deadline, 1.5 s): a process killed mid-probe left it. */
const PROBE_FILE_STALE_MS = 60_000;
/** Directories already swept of such files by this process (once each, at its first probe). */
const swept = new Set<string>();

/** Creates, syncs, reads back and removes a small file in `dir`. */
export async function probeDirectory(dir: string, probeId: string): Promise<void> {
  if (!swept.has(dir)) {
    swept.add(dir);
    await removeStaleProbeFiles(dir);
  }
  const file = path.join(dir, `${PROBE_FILE_PREFIX}${probeId}`);
  const nonce = randomBytes(16);
  try {
    // Never through a link someone put at the name.
    const handle = await fs.open(file, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC | fsConstants.O_NOFOLLOW, 0o600);
    try {
      await handle.writeFile(nonce);
      await handle.sync();
    } finally {
      await handle.close();
    }
    const back = await fs.readFile(file);
    if (!back.equals(nonce)) throw new DaemonError('STORE_UNAVAILABLE', `state directory ${dir}: a file written did not read back`);
  } catch (err) {
    if (err instanceof DaemonError) throw err;
    throw new DaemonError('STORE_UNAVAILABLE', `state directory ${dir}: cannot write and read a file (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  } finally {
    await fs.rm(file, { force: true }).catch(() => undefined);
  }
}

/**
 * A SIGKILL between a probe's write and its removal leaves the file, and no later process (with its
 * own random id) would remove it: each crash would add one. Other daemons' live probes are younger.
 */
async function removeStaleProbeFiles(dir: string): Promise<void> {
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  const now = Date.now();
  for (const name of names) {
    if (!name.startsWith(PROBE_FILE_PREFIX)) continue;
    const file = path.join(dir, name);
    const stat = await fs.lstat(file).catch(() => null);
    if (stat?.isFile() && now - stat.mtimeMs > PROBE_FILE_STALE_MS) await fs.rm(file, { force: true }).catch(() => undefined);
  }
}

/**
 * Daemons that log what they sign: the log's writer takes the write lock within 1 s, and the log's
 * directory takes a new synced file. While another process holds the lock, or the disk is full or
 * fails, every signature would be withheld (LOG_UNAVAILABLE): the daemon is not ready, and says so
 * before a request finds out (a failed append probes again at once).
 */
export function transparencyLogPart(log: { probe(): Promise<void> }): ReadinessPart {
  return { name: 'transparency log', intervalMs: STORE_PROBE_INTERVAL_MS, reprobeOnFault: true, timeoutCode: 'LOG_UNAVAILABLE', probe: () => log.probe() };
}

/** A directory the daemon reads on every request (firmware's key root, the log server's log) can still be listed. */
export function readableDirectoryPart(name: string, dir: string): ReadinessPart {
  return {
    name,
    intervalMs: KEY_PROBE_INTERVAL_MS,
    reprobeOnFault: true,
    async probe() {
      try {
        await fs.readdir(dir);
      } catch (err) {
        throw new DaemonError('BACKEND_UNAVAILABLE', `${name} ${dir} is not readable (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      }
    },
  };
}
