// Loading a vendor PKCS#11 module and (re)initialising it. C_Initialize is process-wide state inside
// the C library, so its mirror here is process-wide too: one entry per module path, reference-counted,
// with a generation that changes on every reinitialisation (all handles of older generations are dead).
import { createRequire } from 'node:module';
import type * as Pkcs11Types from 'pkcs11js';
import { DaemonError } from '../errors.js';
import { checkLoadedFile } from './key-file.js';
import { ckrName } from './pkcs11-errors.js';

export type Pkcs11Api = Pkcs11Types.PKCS11;
export type Pkcs11Handle = Buffer;

const require = createRequire(import.meta.url);
/** pkcs11js is CommonJS with a native addon; loaded lazily so file-key daemons never touch it. */
export function pkcs11js(): typeof Pkcs11Types {
  return require('pkcs11js') as typeof Pkcs11Types;
}

export interface Pkcs11Module {
  readonly path: string;
  readonly api: Pkcs11Api;
  /** Bumped by every reinitialise(); a handle from an older generation must not be used. */
  readonly generation: number;
  /** Calls in flight on any token of this module: C_Finalize must wait until this is 0. */
  inFlight: number;
  /**
   * Digests of (token, PIN) pairs a token refused since start. Every connection to a token logs in
   * again after a reopen, and each failed C_Login counts towards the token's PIN lock: one refusal
   * must stop them all. Never cleared: the operator fixes the PIN file and restarts.
   */
  readonly refusedLogins: Set<string>;
}

interface Entry extends Pkcs11Module {
  generation: number;
  users: number;
}

const loaded = new Map<string, Entry>();

/** Checks, loads and initialises the module (synchronous: start-up only). Pair with releaseModule(). */
export function acquireModule(modulePath: string): Pkcs11Module {
  const existing = loaded.get(modulePath);
  if (existing) {
    existing.users++;
    return existing;
  }
  // The module runs inside this process and receives the PIN: only its owner or root may change it
  // (KEY_FILE_INSECURE otherwise, as for the PIN file itself). Checked before dlopen runs its code.
  checkLoadedFile(modulePath, 'PKCS#11 module');
  const api = new (pkcs11js().PKCS11)();
  try {
    api.load(modulePath);
  } catch (err) {
    throw new DaemonError('KEY_LOAD_FAILED', `PKCS#11 module ${modulePath} could not be loaded (${(err as Error).message})`, { cause: err });
  }
  try {
    initialize(api);
  } catch (err) {
    // At start-up the operator reads this on stderr: name the module. A reopen's failure goes to
    // clients, and is logged with the path by the token instead.
    const e = err as DaemonError;
    throw new DaemonError(e.code, `PKCS#11 module ${modulePath}: ${e.message}`, { cause: err });
  }
  const entry: Entry = { path: modulePath, api, generation: 1, inFlight: 0, users: 1, refusedLogins: new Set() };
  loaded.set(modulePath, entry);
  return entry;
}

/**
 * Finalizes and initialises again, which is the only way some modules (SoftHSM among them) see a
 * token that went away and came back. A caller passes the generation it saw, so concurrent
 * requests for the same reset cause one. Synchronous, like start-up; the pool calls it only when idle.
 */
export function reinitializeModule(module: Pkcs11Module, seenGeneration: number): void {
  const entry = loaded.get(module.path);
  if (!entry || entry.generation !== seenGeneration || entry.inFlight > 0) return;
  try {
    entry.api.C_Finalize();
  } catch {
    // Already finalized or broken: C_Initialize below decides.
  }
  entry.generation++;
  initialize(entry.api);
}

export function releaseModule(module: Pkcs11Module): void {
  const entry = loaded.get(module.path);
  if (!entry || --entry.users > 0) return;
  loaded.delete(module.path);
  try {
    entry.api.C_Finalize();
  } catch {
    // Closing down anyway.
  }
  try {
    entry.api.close();
  } catch {
    // Closing down anyway.
  }
}

/** C_Initialize; its failure names no path: a reopen's message reaches clients (replies, /readyz). */
function initialize(api: Pkcs11Api): void {
  const P = pkcs11js();
  try {
    // Async calls run on libuv worker threads at once, so the module must lock with OS primitives.
    api.C_Initialize({ flags: P.CKF_OS_LOCKING_OK });
  } catch (err) {
    if (ckrName(err) === 'CKR_CRYPTOKI_ALREADY_INITIALIZED') return;
    throw new DaemonError('BACKEND_UNAVAILABLE', `C_Initialize failed (${ckrName(err) ?? (err as Error).message})`, { cause: err });
  }
}
