// Reads the token's user PIN named by a URI's pin-source: a 0600 file or a systemd credential.
// The PIN is never logged, echoed in an error, or taken from argv or the environment.
import path from 'node:path';
import { DaemonError } from '../errors.js';
import { readSecretFile } from './key-file.js';

/** Returns null when no pin-source is given (tokens without CKF_LOGIN_REQUIRED). */
export function readPin(pinSource: string | undefined): string | null {
  if (pinSource === undefined) return null;
  const file = pinFilePath(pinSource);
  const bytes = readSecretFile(file, 'HSM PIN file');
  try {
    // One trailing newline (echo 1234 > pin) is not part of the PIN.
    const pin = bytes.toString('utf8').replace(/\r?\n$/, '');
    if (pin.length === 0) throw new DaemonError('KEY_LOAD_FAILED', `HSM PIN file ${file} is empty`);
    return pin;
  } finally {
    bytes.fill(0);
  }
}

export function pinFilePath(pinSource: string): string {
  if (pinSource.startsWith('credential:')) {
    const dir = process.env['CREDENTIALS_DIRECTORY'];
    const name = pinSource.slice('credential:'.length);
    if (!dir) throw new DaemonError('CONFIG_INVALID', 'pin-source=credential:... needs $CREDENTIALS_DIRECTORY (systemd LoadCredential=)');
    if (!/^[A-Za-z0-9._-]+$/.test(name) || name.startsWith('.')) throw new DaemonError('CONFIG_INVALID', 'pin-source=credential:<name>: bad credential name');
    return path.join(dir, name);
  }
  const file = pinSource.startsWith('file:') ? fileUriPath(pinSource) : pinSource;
  if (!path.isAbsolute(file)) throw new DaemonError('CONFIG_INVALID', 'pin-source= must be file:/absolute/path, /absolute/path or credential:<name>');
  return file;
}

function fileUriPath(source: string): string {
  // file:/p, file:///p and file://localhost/p all name /p.
  const rest = source.slice('file:'.length).replace(/^\/\/(localhost)?(?=\/)/, '');
  return decodeURIComponent(rest);
}
