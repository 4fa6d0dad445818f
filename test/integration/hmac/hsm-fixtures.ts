// Shared pieces of the HSM-backed hmac tests: a throwaway SoftHSM2 token with secrets imported
// by `signerd hsm import --for hmac`'s code (in this process), and the daemon started against it.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startDaemon, type RunningDaemon } from '../../helpers/daemon.js';
import { importIntoTestToken, type TestToken } from '../../helpers/softhsm.js';

/** Imports the raw bytes of `file` (mode 0600) as a generic secret labelled `label`; throws with stderr on failure. */
export function importSecret(token: TestToken, label: string, file: string): Promise<void> {
  return importIntoTestToken(token, label, 'hmac', file);
}

/** `signerd hmac` on port 0 with the token's environment; ports: [mac, verify, http?]. */
export function startHsmHmac(token: TestToken, args: string[], http = false): Promise<RunningDaemon> {
  const ports = ['--port', '0', '--verify-port', '0', ...(http ? ['--http-port', '0'] : [])];
  return startDaemon(['hmac', ...ports, ...args], { env: token.env, listeners: http ? 3 : 2 });
}

/** Starts a daemon that must fail; resolves with its error text (exit code and stderr). */
export async function startFails(token: TestToken, args: string[]): Promise<string> {
  return startHsmHmac(token, args).then(
    async (d) => {
      await d.stop();
      return 'started';
    },
    (e: Error) => e.message,
  );
}

/**
 * HKDF-Extract of a master secret file with openssl (independent of signerd): PRK =
 * HMAC-SHA256(salt, master), written mode 0600 for `hsm import`.
 */
export function opensslPrk(masterFile: string, prkFile: string): string {
  const prk = execFileSync('openssl', ['dgst', '-sha256', '-mac', 'HMAC', '-macopt', 'key:signerd/hmac/derived-key/salt', '-binary', masterFile]);
  if (prk.length !== 32) throw new Error(`openssl gave ${prk.length} bytes`);
  fs.mkdirSync(path.dirname(prkFile), { recursive: true, mode: 0o700 });
  fs.writeFileSync(prkFile, prk, { mode: 0o600 });
  return prkFile;
}

/** Curl POST of `body` (from a file, sent as is): status and body as hex. */
export function curlPost(url: string, bodyFile: string): { status: number; bodyHex: string } {
  const out = execFileSync('curl', ['-sS', '-o', '-', '-w', '\n%{http_code}', '--data-binary', `@${bodyFile}`, url]);
  const cut = out.lastIndexOf(0x0a);
  return { status: Number(out.subarray(cut + 1).toString()), bodyHex: out.subarray(0, cut).toString('hex') };
}
