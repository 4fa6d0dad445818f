// Reading key and secret files safely: refuse files group/others can read, never echo contents,
// and parse PEM private keys of every common shape (PKCS#8, PKCS#1, SEC1) and public keys.
import crypto, { type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { DaemonError, isDaemonError } from '../errors.js';

/**
 * Reads a secret-bearing file, refusing loose permissions with an operator-readable message. With
 * `exactBytes`, a file of another size is refused before it is read (a 1 GiB file in place of a
 * 32-byte secret is never loaded into memory).
 */
export function readSecretFile(path: string, what: string, exactBytes?: number): Buffer {
  return readCheckedFile(path, what, SECRET_MODE_CHECK, Infinity, exactBytes === undefined ? {} : { exactBytes }).data;
}

/** A secret file may be read by its owner only. */
export const SECRET_MODE_CHECK: ModeCheck = { forbiddenBits: 0o077, fix: 'readable or writable by group or others (chmod 600' };
/** A file that grants access (a client registry) may be changed by its owner only, or anyone could enroll. */
export const TRUSTED_MODE_CHECK: ModeCheck = { forbiddenBits: 0o022, fix: 'writable by group or others (chmod go-w' };

/**
 * A secret systemd hands over with LoadCredential= (in $CREDENTIALS_DIRECTORY, a read-only directory
 * private to the service): systemd writes it 0400 as root and grants the service user read access
 * with an ACL where the file system has them (tmpfs, on recent systemd), and stat shows the ACL's
 * mask in the group bits: 0440. The group entry itself grants nothing, so group read is accepted
 * there, and only there; anything more is refused as elsewhere.
 */
const CREDENTIAL_MODE_CHECK: ModeCheck = { forbiddenBits: 0o037, fix: 'writable by group, or readable or writable by others (chmod 600' };

/** The check for `file`: a secret inside the service's credentials directory gets CREDENTIAL_MODE_CHECK. */
function modeCheckFor(file: string, check: ModeCheck): ModeCheck {
  const credentials = process.env['CREDENTIALS_DIRECTORY'];
  if (check !== SECRET_MODE_CHECK || !credentials) return check;
  try {
    const real = fs.realpathSync(file);
    const dir = fs.realpathSync(credentials);
    return real.startsWith(dir + path.sep) ? CREDENTIAL_MODE_CHECK : check;
  } catch {
    return check;
  }
}

interface ModeCheck {
  forbiddenBits: number;
  /** How the refusal names the problem and its fix: "<what it must not be> (<command>". */
  fix: string;
}

/** The owner a private or trusted file may have: this process's user, or root. Another user could rewrite it at will. */
export function ownedByUs(stat: { uid: number }): boolean {
  return stat.uid === (process.getuid?.() ?? 0) || stat.uid === 0;
}

export function ownerError(path: string, what: string, uid: number): DaemonError {
  return new DaemonError(
    'KEY_FILE_INSECURE',
    `${what} ${path} is owned by uid ${uid}; it must be owned by this daemon's user (uid ${process.getuid?.() ?? 0}) or root`,
  );
}

/**
 * A directory that holds keys may be changed by its owner only: another user who could rename in it
 * could swap two machines' key directories (each file still ours), and the wrong key would sign.
 * Followed if a symlink (operators share keys between machines that way): the directory itself counts.
 */
export function checkKeyDirectory(dir: string, what: string): void {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch (err) {
    // A directory the operator named that is not there is configuration, as elsewhere (docs/errors.md).
    throw new DaemonError('CONFIG_INVALID', `${what} ${dir}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`, { cause: err });
  }
  if (!ownedByUs(stat)) throw ownerError(dir, what, stat.uid);
  checkMode(dir, what, stat.mode, TRUSTED_MODE_CHECK);
  // Above it, and above where a symlink leads: a directory others may rename in could swap it whole.
  checkAncestors(dir, what, path.dirname(path.resolve(dir)), path.dirname(fs.realpathSync(dir)));
}

/**
 * A file the daemon loads by its path rather than reads (a PKCS#11 module: native code that runs in
 * the daemon and is handed the PIN in C_Login), under the trusted-file rule: where symlinks lead, a
 * regular file owned by this daemon's user or root and not writable by group or others, in
 * directories they cannot rename in. Whoever could change it could run code as the daemon and read
 * the PIN; a distribution's module (root, 0644, under /usr/lib) passes.
 */
export function checkLoadedFile(file: string, what: string): void {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (err) {
    throw new DaemonError('KEY_LOAD_FAILED', `${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`, { cause: err });
  }
  // Not a key to refuse for its mode but nothing loadable at all (and a FIFO would block dlopen).
  if (!stat.isFile()) throw new DaemonError('KEY_LOAD_FAILED', `${what} ${file}: not a regular file`);
  if (!ownedByUs(stat)) throw ownerError(file, what, stat.uid);
  checkMode(file, what, stat.mode, TRUSTED_MODE_CHECK);
  checkFileDirectory(file, what);
}

/**
 * A secret's or trusted file's directory, and each directory above it up to `/` (as named, and where
 * symlinks lead), must not let group or others rename in it, unless it is sticky like /tmp: whoever
 * can rename there can put another file or directory in its place (their own key, an old registry
 * that still lists a revoked client, another machine's key directory) before the next start or
 * reload, every check on the file itself still passing. OpenSSH's StrictModes checks the same way.
 */
function checkFileDirectory(file: string, what: string): void {
  let real: string | null = null;
  try {
    real = path.dirname(fs.realpathSync(file));
  } catch {
    // The file was opened a moment ago; a failure here is a race the open already won.
  }
  checkAncestors(file, what, path.dirname(path.resolve(file)), ...(real === null ? [] : [real]));
}

/**
 * A directory whose secret files are opened one by one rather than through readCheckedFile (mode32's
 * 65,536 tables) under the rule each such read meets: it and every directory above it, as named
 * (`dir`) and where symlinks lead (`resolved`, the path the files are then opened under).
 */
export function checkSecretDirectory(dir: string, resolved: string, what: string): void {
  checkAncestors(dir, what, path.resolve(dir), resolved);
}

/**
 * A state directory (validity records, watermarks) under the same rule as a key's: whoever may
 * rename in it, or above it, could put an older database in its place (a revocation undone,
 * watermarks lowered) before the next start. Called once it exists.
 */
export function checkStateDirectory(dir: string): void {
  checkAncestors(dir, 'state directory', path.resolve(dir), fs.realpathSync(dir));
}

/**
 * A directory the daemon makes its private directories in (--http-temp-dir), under the same rule,
 * itself included: owned by this daemon's user or root, and not letting group or others rename in
 * it (or above it, as named and where symlinks lead) unless sticky like /tmp. Whoever may rename
 * there could move the daemon's upload directory away and put their own, with links in it, in its place.
 */
export function checkTempDirectory(dir: string, what: string): void {
  const real = fs.realpathSync(dir);
  const stat = fs.statSync(real);
  if (!ownedByUs(stat)) throw ownerError(dir, what, stat.uid);
  // From the directory itself up, as named and where links lead: the same walk as a state directory's.
  checkAncestors(dir, what, path.resolve(dir), real);
}

/**
 * Refuses `subject` when one of `starts` (the place as named, and where symlinks lead) or a
 * directory above it lets group or others rename in it (not sticky). Each directory is looked at
 * once: the two chains are usually one.
 */
function checkAncestors(subject: string, what: string, ...starts: string[]): void {
  const seen = new Set<string>();
  for (const start of starts) {
    for (let at = start; !seen.has(at); at = path.dirname(at)) {
      seen.add(at);
      const mode = fs.statSync(at).mode;
      if ((mode & 0o022) !== 0 && (mode & 0o1000) === 0) {
        const shown = (mode & 0o7777).toString(8).padStart(4, '0');
        throw new DaemonError(
          'KEY_FILE_INSECURE',
          `${what} ${subject} is under ${at}, which has mode ${shown}; group or others could replace what it holds (chmod go-w ${at})`,
        );
      }
      if (path.dirname(at) === at) break;
    }
  }
}

/** Refuses `mode` if it has a forbidden bit, naming the file and the fix. */
export function checkMode(path: string, what: string, mode: number, check: ModeCheck): void {
  if ((mode & check.forbiddenBits) === 0) return;
  const shown = (mode & 0o777).toString(8).padStart(4, '0');
  throw new DaemonError('KEY_FILE_INSECURE', `${what} ${path} has mode ${shown}; it must not be ${check.fix} ${path})`);
}

/**
 * A path as error messages show it: a key's or secret's contents pasted where its path goes (PEM,
 * several lines, longer than any path) are never echoed to the terminal or the journal.
 */
function shownPath(path: string): string {
  return path.includes('-----BEGIN') || /[\r\n]/.test(path) || path.length > 4096 ? '(not a path: it looks like key material; not shown)' : path;
}

/**
 * The checks and the read go through one descriptor, so the file checked is the file read (a swap
 * in between cannot bring another). Opened non-blocking: a FIFO is refused, never waited on, unless
 * `pipes` (configuration, which a shell may hand over as `--config <(…)`: read to its end, bounded).
 * The owner must be this process's user or root: another user could rewrite it at will.
 */
export function readCheckedFile(
  path: string,
  what: string,
  check: ModeCheck,
  bytesMax = Infinity,
  opts: { pipes?: boolean; exactBytes?: number } = {},
): { data: Buffer; mode: number } {
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY | (opts.pipes ? 0 : fs.constants.O_NONBLOCK));
  } catch (err) {
    throw new DaemonError('KEY_LOAD_FAILED', `${what} ${shownPath(path)}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`, { cause: err });
  }
  try {
    const stat = fs.fstatSync(fd);
    const pipe = opts.pipes === true && stat.isFIFO();
    if (!stat.isFile() && !pipe) throw new DaemonError('KEY_LOAD_FAILED', `${what} ${path}: not a regular file`);
    if (!ownedByUs(stat)) throw ownerError(path, what, stat.uid);
    checkMode(path, what, stat.mode, pipe ? check : modeCheckFor(path, check));
    if (!pipe) checkFileDirectory(path, what);
    if (stat.size > bytesMax) throw new DaemonError('KEY_LOAD_FAILED', `${what} ${path}: larger than ${bytesMax} bytes`);
    if (opts.exactBytes !== undefined && stat.size !== opts.exactBytes) {
      throw new DaemonError('KEY_LOAD_FAILED', `${what} ${path}: expected exactly ${opts.exactBytes} bytes, found ${stat.size}`);
    }
    const data = pipe ? readPipe(fd, bytesMax) : fs.readFileSync(fd);
    if (data.length > bytesMax) throw new DaemonError('KEY_LOAD_FAILED', `${what} ${path}: larger than ${bytesMax} bytes`);
    return { data, mode: stat.mode };
  } catch (err) {
    if (err instanceof DaemonError) throw err;
    throw new DaemonError('KEY_LOAD_FAILED', `${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`, { cause: err });
  } finally {
    fs.closeSync(fd);
  }
}

/** A pipe's bytes to its end, or the first bytesMax + 1 of them (the caller refuses more). */
function readPipe(fd: number, bytesMax: number): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const chunk = Buffer.alloc(64 * 1024);
    const n = fs.readSync(fd, chunk, 0, chunk.length, null);
    if (n === 0) return Buffer.concat(chunks, total);
    chunks.push(chunk.subarray(0, n));
    total += n;
    if (total > bytesMax) return Buffer.concat(chunks, total);
  }
}

/** A passphrase file (mode 0600 like any secret): its bytes without trailing newlines; the caller zeroes it. */
export function readPassphraseFile(file: string): Buffer {
  const raw = readSecretFile(file, 'passphrase file');
  let end = raw.length;
  while (end > 0 && (raw[end - 1] === 0x0a || raw[end - 1] === 0x0d)) end--;
  const passphrase = Buffer.from(raw.subarray(0, end));
  raw.fill(0);
  return passphrase;
}

export function loadPrivateKeyFile(path: string): KeyObject {
  let pem: Buffer;
  try {
    pem = readSecretFile(path, 'private key');
  } catch (err) {
    // A public key given for the private one is world-readable by design: say what it is rather
    // than ask for a chmod that leads only to the next error.
    if (isDaemonError(err) && err.code === 'KEY_FILE_INSECURE' && holdsOnlyPublicMaterial(path)) throw notPrivate(path);
    throw err;
  }
  if (holdsOnlyPublicMaterial(pem)) throw notPrivate(path);
  try {
    return crypto.createPrivateKey({ key: pem });
  } catch (err) {
    // OpenSSL's message names the decoder, not the key material, so it is safe to pass on.
    throw new DaemonError('KEY_LOAD_FAILED', `private key ${path}: not a readable PEM/DER private key (${(err as Error).message})`, { cause: err });
  } finally {
    pem.fill(0);
  }
}

/** Whether a file (or its bytes) is a PEM public key or certificate and holds no private key. */
function holdsOnlyPublicMaterial(file: string | Buffer): boolean {
  let text: string;
  try {
    text = (typeof file === 'string' ? fs.readFileSync(file) : file).toString('latin1');
  } catch {
    return false;
  }
  return /-----BEGIN (PUBLIC KEY|CERTIFICATE|EC PUBLIC KEY|RSA PUBLIC KEY)-----/.test(text) && !/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text);
}

function notPrivate(path: string): DaemonError {
  return new DaemonError(
    'KEY_LOAD_FAILED',
    `private key ${path} holds a public key or certificate; give the private key (signerd keygen writes <name>-key.pem beside <name>-pub.pem)`,
  );
}

/** Public keys only: a private key in a verifier's keyring is refused rather than silently used. */
export function loadPublicKeyFile(path: string): KeyObject {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (err) {
    throw new DaemonError('KEY_LOAD_FAILED', `public key ${path}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`, { cause: err });
  }
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) {
    throw new DaemonError('KEY_LOAD_FAILED', `public key ${path} holds a private key; give verifiers public keys only (signerd keygen writes both)`);
  }
  try {
    return crypto.createPublicKey({ key: text });
  } catch (err) {
    throw new DaemonError('KEY_LOAD_FAILED', `public key ${path}: not a readable PEM public key or certificate (${(err as Error).message})`, { cause: err });
  }
}

/** A stable key id: the first 16 hex digits of SHA-256 over the SubjectPublicKeyInfo DER. */
export function keyIdOf(publicKey: KeyObject): string {
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  return crypto.createHash('sha256').update(spki).digest('hex').slice(0, 16);
}
