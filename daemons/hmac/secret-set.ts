// What every secret mode provides: a loaded set of secrets that turns (message, public index,
// key version) into an HMAC-SHA256 tag, without ever handing a key out. Modes are chosen here.
import { DaemonError } from '../../lib/errors.js';

export type SecretMode = 'single' | 'mode16' | 'mode32' | 'derived';

const SECRET_MODES: readonly SecretMode[] = ['single', 'mode16', 'mode32', 'derived'];

/** Bytes in one HMAC key and in one tag (HMAC-SHA256). */
export const KEY_BYTES = 32;
export const TAG_BYTES = 32;
/** The seed's table files: 65,536 keys of 32 bytes (`<dir>/0000` in mode16, every file in mode32). */
export const TABLE_KEYS = 65_536;
export const TABLE_BYTES = TABLE_KEYS * KEY_BYTES;

/** Seed modes have no versions; they report this one so callers need no special case. */
export const UNVERSIONED = 0;

export interface SecretSet {
  readonly mode: SecretMode;
  /** Key versions whose tags verify; new tags use the first. Seed modes: [UNVERSIONED]. */
  readonly versions: readonly number[];
  /** Safe facts for the log (counts, versions, directory); never key material. */
  readonly summary: Record<string, unknown>;
  /** An index whose key the set holds, for the readiness probe's tag (0 unless a set may lack it). */
  readonly probeIndex?: number;
  /** HMAC-SHA256(key(index, version), data). Rejects with BACKEND_UNAVAILABLE if the key cannot be read. */
  mac(data: Buffer, index: number, version: number): Buffer | Promise<Buffer>;
  /** Zeroes held secrets and closes files once nothing uses them; the set is unusable afterwards. */
  dispose(): void;
  /** Token-held sets: dispose() and wait until the token connections are closed (on stop). */
  close?(): Promise<void>;
}

/**
 * Mode names as operators type them: ours, and the seed's CRYPTOSERVER_MODE values in any case
 * (the seed silently fell back to MODE0 on `Mode32`; an unknown name here is a start-up error).
 */
export function parseMode(value: string): SecretMode {
  const name = value.trim().toLowerCase();
  if (name === 'mode0') return 'single';
  if ((SECRET_MODES as readonly string[]).includes(name)) return name as SecretMode;
  throw new DaemonError('CONFIG_INVALID', `--mode: "${value}" is not one of ${SECRET_MODES.join(', ')} (or the seed's MODE0, MODE16, MODE32)`);
}

/** Which key a tag used, for JSON replies and logs. Indexes are public: anyone can compute them. */
export function keyIdFor(mode: SecretMode, index: number, version: number): string {
  switch (mode) {
    case 'single':
      return 'secret';
    case 'mode16':
      return `0000:${index & 0xffff}`;
    case 'mode32':
      return `${tableFileName(index >>> 16)}:${index & 0xffff}`;
    case 'derived':
      return `v${version}:${index}`;
  }
}

/** The zero-padded four-hex-digit name the seed's README generator writes. */
export function tableFileName(file: number): string {
  return file.toString(16).padStart(4, '0');
}

/** all: every one of the 65,536 files must exist (the operator's full set); present: serve the files that exist. */
export type Mode32Files = 'all' | 'present';

export interface SecretSettings {
  mode: SecretMode;
  dir: string;
  mode32Files: Mode32Files;
  /** derived: the version new tags use (null: the highest master file present). */
  keyVersion: number | null;
  /** derived: retired versions still accepted by verify (null: every other master file present). */
  acceptVersions: readonly number[] | null;
  /** mode32: deadline for reading one key from disk; with hsmUri, deadline of one HSM call. */
  readMsMax: number;
  /** single/derived: a pkcs11: URI of the token-held secret (hsm-secret-set.ts) instead of files in `dir`. */
  hsmUri?: string | null;
}
