// `derived` mode: per-message keys from one 32-byte master secret per key version, with
// HKDF-SHA256 (RFC 5869) over the same public index the seed modes use. 32 bytes on disk give
// 2^32 keys per version; a version number makes rotation possible.
import crypto from 'node:crypto';
import { extract } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import fs from 'node:fs';
import path from 'node:path';
import { DaemonError } from '../../lib/errors.js';
import { HMAC_LOADED_VERSIONS_MAX } from '../../lib/limits.js';
import { hmacWithTransientKey, readSizedSecret, replacedError } from './memory-secrets.js';
import { KEY_BYTES, type SecretSet } from './secret-set.js';

/** HKDF salt: fixed and public; it separates these keys from any other use of the master secret. */
const DERIVED_SALT = Buffer.from('signerd/hmac/derived-key/salt', 'ascii');
/** HKDF info prefix; version (u32 BE) and index (u32 BE) follow it. */
const DERIVED_INFO_PREFIX = Buffer.from('signerd/hmac/derived-key/v1\0', 'ascii');

/** HKDF-Extract (RFC 5869 §2.2), once per key version at load: @noble/hashes. */
export function derivedPrk(master: Buffer): Buffer {
  return Buffer.from(extract(sha256, master, DERIVED_SALT));
}

/**
 * One message key: HKDF-Expand (RFC 5869 §2.3) to 32 bytes, which is its first block alone,
 * T(1) = HMAC-SHA256(PRK, info ‖ 0x01). This runs on every request, so it is node:crypto's HMAC
 * (OpenSSL) rather than @noble/hashes' general expand: 339,000 keys/s against 165,000 here. The
 * unit tests hold it to RFC 5869's vectors and to OpenSSL's HKDF.
 */
export function messageKey(prk: Buffer, info: Buffer): Buffer {
  return crypto.createHmac('sha256', prk).update(info).update(FIRST_BLOCK).digest();
}

const FIRST_BLOCK = Buffer.of(1);

/** The info string for one message key: prefix ‖ u32be(version) ‖ u32be(index). */
export function derivedInfo(version: number, index: number): Buffer {
  const info = Buffer.alloc(DERIVED_INFO_PREFIX.length + 8);
  DERIVED_INFO_PREFIX.copy(info);
  info.writeUInt32BE(version, DERIVED_INFO_PREFIX.length);
  info.writeUInt32BE(index >>> 0, DERIVED_INFO_PREFIX.length + 4);
  return info;
}

/** `<dir>/master-v<version>`: the 32-byte master secret of one key version. */
function masterFileName(version: number): string {
  return `master-v${version}`;
}

const MASTER_NAME = /^master-v([1-9][0-9]{0,8})$/;
/** The highest key version a master file can name (9 digits), well inside the u32 of the HKDF info. */
export const KEY_VERSION_MAX = 999_999_999;

/** Versions whose master file is in `dir`, ascending. */
function presentVersions(dir: string): number[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (err) {
    throw new DaemonError('KEY_LOAD_FAILED', `secret directory ${dir}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`, { cause: err });
  }
  // A file meant as a master that names no version (master-v02, master-v2026120700) would be passed
  // over in silence, and the rotation it was put there for would not happen.
  const misnamed = names.find((name) => name.startsWith('master-v') && !MASTER_NAME.test(name));
  if (misnamed !== undefined) {
    throw new DaemonError(
      'KEY_LOAD_FAILED',
      `secret directory ${dir}: ${misnamed} names no key version (master-v<1..${KEY_VERSION_MAX}>, without leading zeros); rename or remove it`,
    );
  }
  const versions = names.map((name) => MASTER_NAME.exec(name)?.[1]).filter((v): v is string => v !== undefined);
  return versions.map(Number).sort((a, b) => a - b);
}

/**
 * Which versions to load: the current one (pinned, or the highest present) first, then the
 * retired ones still accepted by verify (pinned, or every other master file present).
 */
export function chooseVersions(present: readonly number[], current: number | null, accepted: readonly number[] | null): number[] {
  const now = current ?? present[present.length - 1];
  if (now === undefined) throw new DaemonError('KEY_LOAD_FAILED', 'derived mode: no master secret file (master-v1, master-v2, …) in the secret directory');
  const versions = [now, ...new Set((accepted ?? present).filter((v) => v !== now))];
  if (versions.length > HMAC_LOADED_VERSIONS_MAX) {
    throw new DaemonError(
      'KEY_LOAD_FAILED',
      `derived mode: ${versions.length} key versions would be accepted (max ${HMAC_LOADED_VERSIONS_MAX}); remove retired master-v<N> files or pass --accept-versions`,
    );
  }
  return versions;
}

/**
 * Loads the master secret of the current version and of every retired version still accepted
 * for verification. Only the HKDF PRKs are kept; the masters are zeroed once extracted.
 */
export function loadDerivedSecrets(dir: string, current: number | null, accepted: readonly number[] | null): SecretSet {
  const versions = chooseVersions(presentVersions(dir), current, accepted);
  const currentVersion = versions[0]!;
  const prks = new Map<number, Buffer>();
  for (const version of versions) {
    const master = readSizedSecret(path.join(dir, masterFileName(version)), KEY_BYTES, `master secret v${version}`);
    prks.set(version, derivedPrk(master));
    master.fill(0);
  }
  let disposed = false;
  return {
    mode: 'derived',
    versions,
    summary: { secretDir: dir, keyVersion: currentVersion, acceptedVersions: versions.slice(1) },
    mac(data, index, version) {
      if (disposed) throw replacedError();
      const prk = prks.get(version);
      if (!prk) throw new DaemonError('INTERNAL', `key version ${version} is not loaded`);
      return hmacWithTransientKey(messageKey(prk, derivedInfo(version, index)), data);
    },
    dispose() {
      disposed = true;
      for (const prk of prks.values()) prk.fill(0);
      prks.clear();
    },
  };
}
