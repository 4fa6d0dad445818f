// One logged-in PKCS#11 token with a bounded session pool: a call borrows a session, runs under a
// deadline, and gives it back. Loss of session, token or device marks the token broken; the next call
// (at most once per reopenIntervalMs, and only when no call is in flight) reinitialises and logs in again.
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { DaemonError } from '../errors.js';
import { classifyPkcs11Error, ckrName, type Pkcs11Recovery } from './pkcs11-errors.js';
import { acquireModule, pkcs11js, reinitializeModule, releaseModule, type Pkcs11Api, type Pkcs11Handle, type Pkcs11Module } from './pkcs11-module.js';
import { findSlot, type TokenSelector } from './pkcs11-slots.js';
import { addHsmPool } from './hsm-pool-stats.js';

const LOGIN_REFUSED = 'HSM token refused the PIN after a reopen; fix the PIN file and restart';

export interface Pkcs11TokenOptions {
  modulePath: string;
  selector: TokenSelector;
  /** The user PIN, or null for tokens that need no login. Kept in memory only to log in again after a reopen. */
  pin: string | null;
  sessionsMax: number;
  /** Deadline of one call, waiting for a session included: BACKEND_TIMEOUT after it. */
  callMsMax: number;
  reopenIntervalMs: number;
  /** Admin commands create objects; daemons only sign, so their sessions are read-only. */
  readWrite?: boolean;
  log?: Logger;
}

export interface SessionContext {
  readonly api: Pkcs11Api;
  readonly session: Pkcs11Handle;
  /** Object handles found under another generation are dead; look them up again. */
  readonly generation: number;
}

interface Lease {
  session: Pkcs11Handle;
  generation: number;
}

export class Pkcs11Token {
  private readonly module: Pkcs11Module;
  private slot: Pkcs11Handle | null = null;
  private generation = 0;
  private idle: Pkcs11Handle[] = [];
  private busy = 0;
  private broken = false;
  private loginRefused = false;
  private closed = false;
  private lastReopenMs = 0;
  private readonly waiters: Array<() => void> = [];
  private readonly inFlight = new Set<Promise<unknown>>();
  private reopens = 0;
  /** The serial number of the token opened at start: a reopen takes no other token, whatever its label. */
  private serial: string | null = null;
  private readonly unlistPool = addHsmPool(() => ({ open: this.idle.length + this.busy, inUse: this.busy, reopens: this.reopens }));

  /** Start-up: load, find the token, open a session and log in (synchronous). Throws start-up codes. */
  static open(opts: Pkcs11TokenOptions): Pkcs11Token {
    const module = acquireModule(opts.modulePath);
    const token = new Pkcs11Token(module, opts);
    try {
      token.connect();
    } catch (err) {
      token.unlistPool();
      releaseModule(module);
      throw startupError(err, opts);
    }
    return token;
  }

  private constructor(
    module: Pkcs11Module,
    private readonly opts: Pkcs11TokenOptions,
  ) {
    this.module = module;
  }

  /** Synchronous use of one session at start-up or in admin commands (key lookup, key generation). */
  withSessionSync<T>(fn: (ctx: SessionContext) => T): T {
    const lease = this.acquireNow();
    if (!lease) throw new DaemonError('BUSY', 'no free HSM session');
    try {
      return fn({ api: this.module.api, session: lease.session, generation: lease.generation });
    } finally {
      this.release(lease, 'none');
    }
  }

  /** Runs one asynchronous HSM operation on a pooled session, under the per-call deadline. */
  async withSession<T>(what: string, fn: (ctx: SessionContext) => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.opts.callMsMax;
    const lease = await this.acquire(deadline, what);
    let recovery: Pkcs11Recovery = 'none';
    const call = (async () => fn({ api: this.module.api, session: lease.session, generation: lease.generation }))()
      .catch((err: unknown) => {
        const classified = classifyPkcs11Error(err, what);
        recovery = classified.recovery;
        if (recovery === 'reopen') this.opts.log?.warn({ ckr: ckrName(err), what }, 'HSM token lost; it will be reopened');
        throw classified.error;
      })
      // A deadline cannot cancel an HSM call: the session stays leased until the call really returns.
      .finally(() => this.release(lease, recovery));
    this.inFlight.add(call);
    void call.then(
      () => this.inFlight.delete(call),
      () => this.inFlight.delete(call),
    );
    return withDeadline(call, deadline - Date.now(), what);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unlistPool();
    for (const wake of this.waiters.splice(0)) wake();
    await Promise.race([Promise.allSettled([...this.inFlight]), new Promise((r) => setTimeout(r, this.opts.callMsMax).unref())]);
    for (const session of this.idle.splice(0)) closeQuietly(this.module.api, session);
    releaseModule(this.module);
  }

  private async acquire(deadline: number, what: string): Promise<Lease> {
    for (;;) {
      const lease = this.acquireNow();
      if (lease) return lease;
      const waitMs = deadline - Date.now();
      if (waitMs <= 0) throw new DaemonError('BACKEND_TIMEOUT', `HSM ${what}: no session free within the deadline`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, waitMs);
        const waiters = this.waiters;
        function done(): void {
          clearTimeout(timer);
          const at = waiters.indexOf(done);
          if (at !== -1) waiters.splice(at, 1);
          resolve();
        }
        waiters.push(done);
      });
    }
  }

  /** A session now, or null when all are leased. Throws BACKEND_UNAVAILABLE while the token is down. */
  private acquireNow(): Lease | null {
    if (this.closed) throw new DaemonError('SHUTTING_DOWN', 'HSM token is closing');
    if (this.module.generation !== this.generation) this.markBroken();
    if (this.broken) this.reopen();
    const idle = this.idle.pop();
    if (idle) return this.lease(idle);
    if (this.busy >= this.opts.sessionsMax) return null;
    try {
      return this.lease(this.openSession());
    } catch (err) {
      const classified = classifyPkcs11Error(err, 'open session');
      // The token holds no more sessions (CKR_SESSION_COUNT: a limit of its own below sessionsMax,
      // or other processes' sessions): wait for one of ours to come back, as past sessionsMax,
      // rather than refuse at once. With none of ours open there is nothing to wait for.
      if (classified.error.code === 'BUSY' && this.busy > 0) return null;
      if (classified.recovery === 'reopen') this.markBroken();
      throw classified.error;
    }
  }

  private lease(session: Pkcs11Handle): Lease {
    this.busy++;
    this.module.inFlight++;
    return { session, generation: this.generation };
  }

  private release(lease: Lease, recovery: Pkcs11Recovery): void {
    this.busy--;
    this.module.inFlight--;
    const current = lease.generation === this.generation && !this.broken && !this.closed;
    if (recovery === 'reopen') this.markBroken();
    else if (current && recovery === 'discard') closeQuietly(this.module.api, lease.session);
    else if (current) this.idle.push(lease.session);
    else if (this.closed) closeQuietly(this.module.api, lease.session);
    this.waiters.shift()?.();
  }

  private markBroken(): void {
    this.broken = true;
    // Handles from a lost token or an older generation are meaningless; C_Finalize drops them.
    this.idle = [];
  }

  private reopen(): void {
    if (this.loginRefused) throw new DaemonError('BACKEND_UNAVAILABLE', LOGIN_REFUSED);
    // A sibling connection on this module may already have reinitialised it: then only this
    // connection's session and login are missing, and calls in flight elsewhere are no obstacle.
    const moduleReset = this.module.generation !== this.generation;
    if (!moduleReset && this.module.inFlight > 0) throw new DaemonError('BACKEND_UNAVAILABLE', 'HSM token lost; it is reopened once calls in flight end');
    const now = Date.now();
    if (now - this.lastReopenMs < this.opts.reopenIntervalMs) throw new DaemonError('BACKEND_UNAVAILABLE', 'HSM token unavailable; reopening shortly');
    this.lastReopenMs = now;
    try {
      reinitializeModule(this.module, this.generation);
      this.connect();
    } catch (err) {
      this.generation = this.module.generation;
      const classified = classifyPkcs11Error(err, 'reopen');
      if (classified.error.code === 'HSM_LOGIN_FAILED') {
        // Retrying a wrong PIN would lock the token; stop until an operator restarts the daemon.
        // ckr is null when C_Login was not called because another connection was refused this PIN.
        this.loginRefused = true;
        this.opts.log?.error({ ckr: ckrName(err), err: classified.error.message }, 'HSM token refused the PIN on reopen; not retrying');
        throw new DaemonError('BACKEND_UNAVAILABLE', LOGIN_REFUSED, { cause: err });
      }
      // The module path is for the operator: the reply below, and /readyz, leave it out.
      this.opts.log?.warn({ module: this.module.path, err: classified.error.message }, 'HSM token reopen failed; will retry');
      throw new DaemonError('BACKEND_UNAVAILABLE', `HSM token unavailable (${classified.error.message})`, { cause: err });
    }
    this.reopens++;
    this.opts.log?.warn({ generation: this.generation }, 'HSM token reopened');
  }

  /** Finds the slot, opens one session and logs in; on success the token is whole again. */
  private connect(): void {
    const api = this.module.api;
    const slot = findSlot(api, this.opts.selector);
    const serial = api.C_GetTokenInfo(slot).serialNumber.trim();
    // Another token under the same label (a stand-in, a re-initialised one) holds other keys or none:
    // the token stays broken and is looked for again, until the one opened is back.
    if (this.serial !== null && serial !== this.serial)
      throw new DaemonError('BACKEND_UNAVAILABLE', `the token the URI finds now (serial ${serial}) is not the one opened (serial ${this.serial})`);
    this.serial = serial;
    this.slot = slot;
    const session = this.openSession();
    try {
      if (this.opts.pin !== null) login(this.module, slot, session, this.opts.pin);
    } catch (err) {
      closeQuietly(api, session);
      throw err;
    }
    this.generation = this.module.generation;
    this.idle = [session];
    this.broken = false;
  }

  private openSession(): Pkcs11Handle {
    if (this.slot === null) throw new DaemonError('BACKEND_UNAVAILABLE', 'HSM token not found');
    const P = pkcs11js();
    const flags = P.CKF_SERIAL_SESSION | (this.opts.readWrite ? P.CKF_RW_SESSION : 0);
    return this.module.api.C_OpenSession(this.slot, flags);
  }
}

function login(module: Pkcs11Module, slot: Pkcs11Handle, session: Pkcs11Handle, pin: string): void {
  const info = module.api.C_GetTokenInfo(slot);
  const attempt = createHash('sha256').update(`${info.label}\0${info.serialNumber}\0${pin}`).digest('hex');
  if (module.refusedLogins.has(attempt)) throw new DaemonError('HSM_LOGIN_FAILED', 'the token refused this PIN before; not trying it again');
  try {
    module.api.C_Login(session, pkcs11js().CKU_USER, pin);
  } catch (err) {
    // Login state is per application and token: another session may have logged in already.
    if (ckrName(err) === 'CKR_USER_ALREADY_LOGGED_IN') return;
    if (classifyPkcs11Error(err, 'login').error.code === 'HSM_LOGIN_FAILED') module.refusedLogins.add(attempt);
    throw err;
  }
}

function closeQuietly(api: Pkcs11Api, session: Pkcs11Handle): void {
  try {
    api.C_CloseSession(session);
  } catch {
    // The session is gone already; nothing to give back.
  }
}

function startupError(err: unknown, opts: Pkcs11TokenOptions): DaemonError {
  const where = `PKCS#11 token ${opts.selector.token ?? opts.selector.serial ?? `slot ${opts.selector.slotId ?? '?'}`}`;
  if (err instanceof DaemonError)
    return new DaemonError(err.code === 'BACKEND_UNAVAILABLE' ? 'KEY_LOAD_FAILED' : err.code, `${where}: ${err.message}`, { cause: err });
  const classified = classifyPkcs11Error(err, 'open');
  if (classified.error.code === 'HSM_LOGIN_FAILED')
    return new DaemonError('HSM_LOGIN_FAILED', `${where} refused the login (${ckrName(err)}); check the PIN file`, { cause: err });
  return new DaemonError('KEY_LOAD_FAILED', `${where}: ${classified.error.message}`, { cause: err });
}

function withDeadline<T>(call: Promise<T>, ms: number, what: string): Promise<T> {
  call.catch(() => undefined);
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new DaemonError('BACKEND_TIMEOUT', `HSM ${what} did not answer within its deadline`)), Math.max(0, ms));
    call.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: Error) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
