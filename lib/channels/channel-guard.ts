// Client channels (the psimbols design on TLS 1.3): who is at the other end of a TLS connection,
// whether it may use this daemon now, and at what rate. A channel is a TLS session; it is admitted
// once its handshake is done and checked again on every request and by a sweep, so a registry
// reload, an expiry or a max-session takes effect on open channels too.
import crypto from 'node:crypto';
import fs from 'node:fs';
import type tls from 'node:tls';
import { DaemonError } from '../errors.js';
import { readSecretFile } from '../keys/key-file.js';
import { certificatePin, loadClientRegistry, type ClientRegistry, type RegisteredClient } from './client-registry.js';
import { createTokenBucket, type TokenBucket } from './token-bucket.js';
import type { ChannelPolicy, ChannelSettings } from './channel-options.js';
import { CHANNEL_BLOCK_MS, CHANNEL_HANDSHAKES_PER_MINUTE_MAX, CHANNEL_IDENTITIES_MAX, CHANNEL_REFUSALS_PER_MINUTE_MAX } from '../limits.js';

/** A client admitted on one connection. */
export interface ChannelClient {
  /** The registry name, or `cert:<pin>` on an open service. Logged with every request. */
  readonly name: string;
  readonly openedMs: number;
}

type Admission = { client: ChannelClient } | { refusal: DaemonError };

export interface ChannelGuard {
  /** Options for tls.createServer / https.createServer (and setSecureContext on reload). */
  tlsOptions(): tls.TlsOptions;
  /** After the handshake: who this is, and whether the channel may open. */
  admit(socket: tls.TLSSocket): Admission;
  /** Before each request: null to go on, or the refusal (the channel closes unless it is RATE_LIMITED). */
  checkRequest(client: ChannelClient): DaemonError | null;
  /** For the sweep of open channels: null while the channel may stay open. */
  recheck(client: ChannelClient): DaemonError | null;
  /** SIGHUP: re-reads the registry and the server certificate; on failure keeps the old ones and throws. */
  reload(): void;
  /** When the daemons' certificate in use stops being valid (ms since the epoch): a metric to alert on. */
  certificateNotAfterMs(): number;
}

/** What the guard keeps per identity across connections (bounded: CHANNEL_IDENTITIES_MAX). */
interface IdentityState {
  /** The rate its bucket was made for (null: no limit). */
  rate: number | null;
  bucket: TokenBucket | null;
  handshakes: number[];
  refusals: number[];
  blockedUntilMs: number;
}

interface Admitted extends ChannelClient {
  readonly pin: string | null;
  /** A certificate client: when its certificate stops being valid (the channel ends then). */
  readonly certNotAfterMs: number | null;
  /** A PSK client: SHA-256 of the key its channel was opened with (a reload that changes the key ends the channel). */
  readonly pskSha256: Buffer | null;
}

const sha256 = (key: Buffer): Buffer => crypto.createHash('sha256').update(key).digest();

/**
 * What opening a channel costs in tokens: two requests' worth, so a reconnect loop is throttled
 * before requests are, but never the whole burst: a full bucket always serves the channel's first
 * request (with rate=1/s or 2/s the open took every token, and a one-shot client never signed).
 */
const openCost = (ratePerSecond: number): number => Math.min(2, Math.max(0, ratePerSecond - 1));

function createChannelGuard(daemon: string, settings: ChannelSettings, log: { warn(fields: object, msg: string): void }): ChannelGuard {
  let registry = loadRegistry(settings);
  let credentials = loadCredentials(settings);
  warnIfExpiring(credentials, settings.certFile, Date.now(), log);
  const identities = new Map<string, IdentityState>();
  // Which PSK identity a handshake offered; it counts only if the handshake used it (see identify).
  const offered = new WeakMap<tls.TLSSocket, string>();

  const stateOf = (name: string, rate: number | null): IdentityState => {
    let state = identities.get(name);
    if (!state) {
      // Oldest first out: an open service meets identities without end; a registry's are bounded anyway.
      if (identities.size >= CHANNEL_IDENTITIES_MAX) identities.delete(identities.keys().next().value!);
      state = { rate, bucket: rate === null ? null : createTokenBucket(rate, Date.now()), handshakes: [], refusals: [], blockedUntilMs: 0 };
      identities.set(name, state);
    }
    return state;
  };

  /** A client's rate in the registry in use (the open service's for every identity there); null: no limit. */
  const rateOf = (name: string): number | null => (registry.kind === 'open' ? registry.ratePerSecond : (registry.clients.get(name)?.ratePerSecond ?? null));

  /** Counts an event in the last minute; past `max` the identity is blocked for CHANNEL_BLOCK_MS. */
  const count = (name: string, state: IdentityState, events: number[], max: number, now: number, what: string): void => {
    while (events.length > 0 && events[0]! <= now - 60_000) events.shift();
    events.push(now);
    if (events.length > max && state.blockedUntilMs <= now) {
      state.blockedUntilMs = now + CHANNEL_BLOCK_MS;
      log.warn({ client: name, what, perMinute: events.length, blockedMs: CHANNEL_BLOCK_MS }, 'client blocked for abuse');
    }
  };

  const blocked = (name: string, state: IdentityState, now: number): DaemonError | null =>
    state.blockedUntilMs > now
      ? new DaemonError(
          'FORBIDDEN',
          `client ${name} is blocked for abuse until ${new Date(state.blockedUntilMs).toISOString()} (too many channels or refusals a minute)`,
        )
      : null;

  /** The registration that still covers this client now, or why not. */
  const standing = (client: Admitted, now: number): DaemonError | null => {
    if (registry.kind === 'open') return null;
    const current = registry.clients.get(client.name);
    // Same name, same credential: a certificate by its pin, a PSK by the key the channel was opened
    // with, so a rotated (say, stolen) PSK ends the channels that still use the old one.
    const same =
      current &&
      (client.pin === null
        ? current.credential.kind === 'psk' && client.pskSha256 !== null && crypto.timingSafeEqual(sha256(current.credential.key), client.pskSha256)
        : current.credential.kind === 'cert' && current.credential.sha256 === client.pin);
    if (!current || !same) return new DaemonError('UNAUTHENTICATED', `client ${client.name} is no longer registered; open a new channel`);
    if (current.notAfterMs !== null && now >= current.notAfterMs) {
      return new DaemonError('UNAUTHENTICATED', `client ${client.name}'s registration ended at ${new Date(current.notAfterMs).toISOString()}`);
    }
    if (current.daemons && !current.daemons.has(daemon)) return new DaemonError('FORBIDDEN', `client ${client.name} may not use ${daemon}`);
    if (client.certNotAfterMs !== null && now >= client.certNotAfterMs) {
      return new DaemonError('UNAUTHENTICATED', `client ${client.name}'s certificate expired at ${new Date(client.certNotAfterMs).toISOString()}; renew it`);
    }
    if (current.maxSessionMs !== null && now - client.openedMs >= current.maxSessionMs) {
      return new DaemonError('UNAUTHENTICATED', `this channel is older than ${current.maxSessionMs / 1000} s (max-session); open a new one`);
    }
    return null;
  };

  /** The peer's identity: a PSK only if the handshake used it (resumption is off, so a reused session is the PSK), else a certificate pin. */
  const identify = (socket: tls.TLSSocket): { psk: string } | { pin: string; cert: crypto.X509Certificate } | null => {
    const psk = offered.get(socket);
    if (psk !== undefined && socket.isSessionReused()) return { psk };
    const cert = socket.getPeerX509Certificate();
    return cert ? { pin: certificatePin(cert.fingerprint256), cert } : null;
  };

  const admitRegistered = (socket: tls.TLSSocket, now: number): Admission => {
    const id = identify(socket);
    if (!id) return { refusal: new DaemonError('UNAUTHENTICATED', 'no client certificate or pre-shared key; this daemon serves registered clients only') };
    let registered: RegisteredClient | undefined;
    let name: string;
    let pin: string | null = null;
    let certNotAfterMs: number | null = null;
    if ('cert' in id) {
      const checked = certificateStanding(id.cert, id.pin, now);
      if ('refusal' in checked) return checked;
      certNotAfterMs = checked.notAfterMs;
    }
    if (registry.kind === 'open') {
      if ('psk' in id) return { refusal: new DaemonError('UNAUTHENTICATED', 'an open service knows clients by certificate, not by pre-shared key') };
      pin = id.pin;
      name = `cert:${pin}`;
    } else if ('psk' in id) {
      registered = registry.clients.get(id.psk);
      name = id.psk;
    } else {
      pin = id.pin;
      registered = registry.byCertSha256.get(pin);
      if (!registered) return { refusal: new DaemonError('UNAUTHENTICATED', `certificate ${pin.slice(0, 16)}… is not registered`) };
      name = registered.name;
    }
    const pskSha256 = registered?.credential.kind === 'psk' ? sha256(registered.credential.key) : null;
    const client: Admitted = { name, openedMs: now, pin, certNotAfterMs, pskSha256 };
    const refusal = standing(client, now);
    return refusal ? { refusal } : { client };
  };

  return {
    tlsOptions() {
      const withPsk = registry.kind === 'closed' && [...registry.clients.values()].some((c) => c.credential.kind === 'psk');
      return {
        minVersion: 'TLSv1.3',
        maxVersion: 'TLSv1.3',
        cert: credentials.cert,
        key: credentials.key,
        // Client certificates are asked for and pinned here, not checked against a CA.
        requestCert: true,
        rejectUnauthorized: false,
        // No resumption: a resumed session would carry no PSK identity, and every channel must be
        // checked against the registry as it is now.
        secureOptions: crypto.constants.SSL_OP_NO_TICKET,
        // OpenSSL takes an external PSK in TLS 1.3 only with a SHA-256 suite; with SHA-384 it would
        // fall back to a certificate handshake and ignore a wrong key instead of failing it.
        ...(withPsk ? { ciphers: 'TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256' } : {}),
        // The callback reads the registry in use, and a server takes it only when it is created
        // (setSecureContext ignores it): it is there from the start, so a PSK client added by a
        // reload is served without a restart.
        ...(registry.kind === 'closed' ? { pskCallback } : {}),
      };
    },
    admit(socket) {
      const now = Date.now();
      const admission = admitRegistered(socket, now);
      if ('refusal' in admission) return admission;
      const client = admission.client as Admitted;
      const state = stateOf(client.name, rateOf(client.name));
      count(client.name, state, state.handshakes, CHANNEL_HANDSHAKES_PER_MINUTE_MAX, now, 'channels');
      const isBlocked = blocked(client.name, state, now);
      if (isBlocked) return { refusal: isBlocked };
      const cost = state.rate === null ? 0 : openCost(state.rate);
      const taken = cost > 0 && state.bucket ? state.bucket.take(cost, now) : { ok: true as const };
      if (!taken.ok) return { refusal: rateLimited(client.name, taken.retryAfterMs) };
      return admission;
    },
    checkRequest(channelClient) {
      const client = channelClient as Admitted;
      const now = Date.now();
      const refusal = standing(client, now);
      if (refusal) return refusal;
      const state = stateOf(client.name, rateOf(client.name));
      const isBlocked = blocked(client.name, state, now);
      if (isBlocked) return isBlocked;
      const taken = state.bucket?.take(1, now) ?? { ok: true };
      if (taken.ok) return null;
      count(client.name, state, state.refusals, CHANNEL_REFUSALS_PER_MINUTE_MAX, now, 'refusals');
      return rateLimited(client.name, taken.retryAfterMs);
    },
    recheck(client) {
      return standing(client as Admitted, Date.now());
    },
    certificateNotAfterMs: () => credentials.notAfterMs,
    reload() {
      // Both files are read before either replaces what is in use: a bad file changes nothing.
      const nextRegistry = loadRegistry(settings);
      const nextCredentials = loadCredentials(settings);
      registry = nextRegistry;
      credentials = nextCredentials;
      warnIfExpiring(credentials, settings.certFile, Date.now(), log);
      // A client whose rate changed gets a bucket for the new one; everything else carries over, so
      // a reload (any operator's, for any reason) neither refills a bucket nor lifts an abuse block.
      const now = Date.now();
      for (const [name, state] of identities) {
        const rate = rateOf(name);
        if (rate === state.rate) continue;
        state.rate = rate;
        state.bucket = rate === null ? null : createTokenBucket(rate, now);
      }
    },
  };

  function pskCallback(socket: tls.TLSSocket, identity: string): Buffer {
    offered.set(socket, identity);
    const client = registry.kind === 'closed' ? registry.clients.get(identity) : undefined;
    // An unknown identity gets a random key: its binder fails exactly as a wrong key's does, so
    // the handshake ends with the same alert and identities cannot be told from non-identities.
    return client?.credential.kind === 'psk' ? client.credential.key : crypto.randomBytes(32);
  }
}

/** The daemon's guard when its policy has TLS channels, null for plaintext. */
export function openChannelGuard(daemon: string, policy: ChannelPolicy, log: { warn(fields: object, msg: string): void }): ChannelGuard | null {
  return policy.channel ? createChannelGuard(daemon, policy.channel, log) : null;
}

/** What a daemon's SIGHUP does for its channels: reload the registry and certificate, then tell its servers. */
export function channelReload(
  channel: ChannelGuard | null,
  servers: Array<{ channelsReloaded(): void }>,
  log: { info(fields: object, msg: string): void },
): (() => Promise<void>) | undefined {
  if (!channel) return undefined;
  return async () => {
    channel.reload();
    for (const server of servers) server.channelsReloaded();
    log.info({}, 'client registry and TLS certificate reloaded');
  };
}

/** Extended key usages a client certificate may name: TLS client authentication, or any. */
const CLIENT_AUTH_USAGES = new Set(['1.3.6.1.5.5.7.3.2', '2.5.29.37.0']);
/** A certificate made on a host whose clock runs a little ahead is not refused for that. */
const NOT_BEFORE_SKEW_MS = 5 * 60_000;

/**
 * A pinned certificate is still a certificate: outside its validity period, or made for another use
 * (a server's), it opens no channel, so `client new --days` bounds a client's life as it says.
 */
function certificateStanding(cert: crypto.X509Certificate, pin: string, now: number): { notAfterMs: number } | { refusal: DaemonError } {
  const which = `certificate ${pin.slice(0, 16)}…`;
  const notBefore = Date.parse(cert.validFrom);
  const notAfter = Date.parse(cert.validTo);
  if (!(now + NOT_BEFORE_SKEW_MS >= notBefore))
    return { refusal: new DaemonError('UNAUTHENTICATED', `${which} is not valid before ${new Date(notBefore).toISOString()}`) };
  if (!(now < notAfter)) return { refusal: new DaemonError('UNAUTHENTICATED', `${which} expired at ${new Date(notAfter).toISOString()}; renew it`) };
  const usages = cert.keyUsage as string[] | undefined;
  if (usages && !usages.some((usage) => CLIENT_AUTH_USAGES.has(usage))) {
    return { refusal: new DaemonError('UNAUTHENTICATED', `${which} is not for TLS client authentication (its extended key usage)`) };
  }
  return { notAfterMs: notAfter };
}

function rateLimited(name: string, retryAfterMs: number): DaemonError {
  return new DaemonError('RATE_LIMITED', `client ${name} is over its rate; retry in ${Math.max(1, Math.ceil(retryAfterMs))} ms`, { retryAfterMs });
}

function loadRegistry(settings: ChannelSettings): ClientRegistry {
  return settings.clients === 'open' ? { kind: 'open', ratePerSecond: settings.openRatePerSecond } : loadClientRegistry(settings.clients);
}

/** Warned of at start and on each reload: clients refuse an expired certificate, so every channel would fail. */
const CERTIFICATE_WARN_MS = 30 * 86_400_000;

function warnIfExpiring(credentials: { notAfterMs: number }, certFile: string, now: number, log: { warn(fields: object, msg: string): void }): void {
  const left = credentials.notAfterMs - now;
  if (left >= CERTIFICATE_WARN_MS) return;
  const notAfter = new Date(credentials.notAfterMs).toISOString();
  log.warn(
    { certFile, notAfter, daysLeft: Math.floor(left / 86_400_000) },
    left > 0
      ? 'TLS certificate expires soon: clients will refuse it then; renew it and SIGHUP'
      : 'TLS certificate has expired: clients refuse it; renew it and SIGHUP',
  );
}

function loadCredentials(settings: ChannelSettings): { cert: Buffer; key: Buffer; notAfterMs: number } {
  const key = readSecretFile(settings.keyFile, 'TLS private key');
  let cert: Buffer;
  try {
    cert = fs.readFileSync(settings.certFile);
  } catch (err) {
    throw new DaemonError('KEY_LOAD_FAILED', `TLS certificate ${settings.certFile}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`, { cause: err });
  }
  let notAfterMs: number;
  try {
    const x509 = new crypto.X509Certificate(cert);
    if (!x509.checkPrivateKey(crypto.createPrivateKey(key))) throw new Error('the key does not match the certificate');
    notAfterMs = Date.parse(x509.validTo);
  } catch (err) {
    throw new DaemonError('KEY_LOAD_FAILED', `TLS certificate ${settings.certFile} and key ${settings.keyFile}: ${(err as Error).message}`, { cause: err });
  }
  return { cert, key, notAfterMs };
}
