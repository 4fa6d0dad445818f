// A throwaway SoftHSM2 token for tests: its own SOFTHSM2_CONF and token directory in a temp dir,
// initialised with softhsm2-util, a 0600 PIN file, and helpers to "remove" and restore the token.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { importIntoToken } from '../../lib/admin/hsm-command.js';
import { needTools } from './tools.js';

const MODULE_CANDIDATES = [
  '/usr/lib/softhsm/libsofthsm2.so',
  '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/local/lib/softhsm/libsofthsm2.so',
];

export const SOFTHSM_MODULE = MODULE_CANDIDATES.find((file) => fs.existsSync(file)) ?? MODULE_CANDIDATES[0]!;

/** tap options: skip off CI (fail in CI) when SoftHSM2, pkcs11-tool or openssl is missing. */
export function needSoftHsm(): { skip?: string } {
  const tools = needTools('softhsm2-util', 'pkcs11-tool', 'openssl');
  if (tools.skip) return tools;
  if (!fs.existsSync(SOFTHSM_MODULE)) {
    if (process.env['CI'] === 'true') throw new Error('CI: libsofthsm2.so not found');
    return { skip: 'libsofthsm2.so not found (apt-get install softhsm2)' };
  }
  return {};
}

export interface TestToken {
  dir: string;
  label: string;
  pin: string;
  pinFile: string;
  env: { SOFTHSM2_CONF: string };
  /** A key URI for `object`, with module-path and pin-source filled in. */
  uri(object: string, extra?: string): string;
  /** The token URI without an object (for `signerd hsm list`). */
  tokenUri(): string;
  /** Moves the token directory away: to the module the token is gone. */
  remove(): void;
  restore(): void;
  pkcs11Tool(args: string[]): string;
  /** Changes the token's user PIN with pkcs11-tool (the PIN file stays as it is). */
  changePin(newPin: string, oldPin?: string): void;
  /** Deletes the key labelled `label` with pkcs11-tool: its private and its public object. */
  deleteKeyPair(label: string): void;
  cleanup(): void;
}

export function createToken(label = 'signerd-test'): TestToken {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signerd-softhsm-'));
  const tokens = path.join(dir, 'tokens');
  fs.mkdirSync(tokens, { mode: 0o700 });
  const conf = path.join(dir, 'softhsm2.conf');
  fs.writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  const pin = '4711-test';
  const pinFile = path.join(dir, 'pin');
  fs.writeFileSync(pinFile, pin + '\n', { mode: 0o600 });
  const env = { SOFTHSM2_CONF: conf };
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--so-pin', 'so-12345678', '--pin', pin], {
    env: { ...process.env, ...env },
    stdio: 'pipe',
  });
  const query = `module-path=${SOFTHSM_MODULE}&pin-source=file:${pinFile}`;
  const tool = (userPin: string, args: string[]): string =>
    execFileSync('pkcs11-tool', ['--module', SOFTHSM_MODULE, '--token-label', label, '--login', '--pin', userPin, ...args], {
      env: { ...process.env, ...env },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  return {
    dir,
    label,
    pin,
    pinFile,
    env,
    uri: (object, extra = '') => `pkcs11:token=${encodeURIComponent(label)};object=${encodeURIComponent(object)}${extra}?${query}`,
    tokenUri: () => `pkcs11:token=${encodeURIComponent(label)}?${query}`,
    remove: () => fs.renameSync(tokens, tokens + '.away'),
    restore: () => fs.renameSync(tokens + '.away', tokens),
    pkcs11Tool: (args) => tool(pin, args),
    changePin: (newPin, oldPin = pin) => void tool(oldPin, ['--change-pin', '--new-pin', newPin]),
    deleteKeyPair: (object) => {
      for (const type of ['privkey', 'pubkey']) tool(pin, ['--delete-object', '--type', type, '--label', object]);
    },
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

/** In-process imports take turns: each sets SOFTHSM2_CONF for the module's C_Initialize and puts it back. */
let importTurn: Promise<unknown> = Promise.resolve();

/**
 * A test's set-up import (`signerd hsm import --key <uri> --for <daemon> --from <file>`) run in this
 * process: the command's own import code, without a process per key. Tests of the command itself run
 * it as a process. The token's SOFTHSM2_CONF is set for the call only.
 */
export function importIntoTestToken(token: TestToken, label: string, forDaemon: string, file: string): Promise<void> {
  const run = async (): Promise<void> => {
    const saved = process.env['SOFTHSM2_CONF'];
    process.env['SOFTHSM2_CONF'] = token.env.SOFTHSM2_CONF;
    try {
      await importIntoToken({ key: token.uri(label), for: forDaemon, from: file }, undefined);
    } finally {
      if (saved === undefined) delete process.env['SOFTHSM2_CONF'];
      else process.env['SOFTHSM2_CONF'] = saved;
    }
  };
  const turn = importTurn.then(run, run);
  importTurn = turn.catch(() => undefined);
  return turn;
}
