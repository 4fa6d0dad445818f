// Secret directories for the hmac tests: random secrets in the seed's layouts, files mode 0600.
// mode32 gets a small subset of its 65,536 files (2 MiB each) plus whatever a test names.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export const TABLE_BYTES = 65_536 * 32;

export function writeSecret(file: string, data: Buffer): string {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  fs.writeFileSync(file, data, { mode: 0o600 });
  fs.chmodSync(file, 0o600);
  return file;
}

export function singleDir(dir: string): string {
  writeSecret(path.join(dir, 'secret'), crypto.randomBytes(32));
  return dir;
}

export function mode16Dir(dir: string): string {
  writeSecret(path.join(dir, '0000'), crypto.randomBytes(TABLE_BYTES));
  return dir;
}

/** Writes the named mode32 files (names as given: padded `0a3f` or unpadded `a3f`). */
export function mode32Dir(dir: string, names: readonly string[]): string {
  for (const name of names) writeSecret(path.join(dir, name), crypto.randomBytes(TABLE_BYTES));
  return dir;
}

export function derivedDir(dir: string, versions: readonly number[]): string {
  for (const v of versions) writeSecret(path.join(dir, `master-v${v}`), crypto.randomBytes(32));
  return dir;
}

/** The key the seed would use: 32 bytes at index × 32 of a table file. */
export function tableKey(file: string, index: number): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const key = Buffer.alloc(32);
    fs.readSync(fd, key, 0, 32, (index & 0xffff) * 32);
    return key;
  } finally {
    fs.closeSync(fd);
  }
}
