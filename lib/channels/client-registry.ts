// The client registry (--clients <file>): who may open a channel to a daemon, with what credential,
// and under which limits. One client per line: `<name> <credential> [option=value ...]`; the
// psimbols "closed service". `--clients open` is its open service: any certificate, known by its pin.
import { DaemonError } from '../errors.js';
import { checkMode, readCheckedFile, SECRET_MODE_CHECK, TRUSTED_MODE_CHECK } from '../keys/key-file.js';

type ClientCredential = { kind: 'cert'; sha256: string } | { kind: 'psk'; key: Buffer };

export interface RegisteredClient {
  name: string;
  credential: ClientCredential;
  /** Daemons this client may use; null: every daemon. */
  daemons: ReadonlySet<string> | null;
  /** The client may not open or keep a channel after this instant; null: no end. */
  notAfterMs: number | null;
  /** Requests per second (a token bucket with a burst of the same size); null: no limit. */
  ratePerSecond: number | null;
  /** A channel older than this is closed and must be opened again; null: no limit. */
  maxSessionMs: number | null;
}

export type ClientRegistry =
  | { kind: 'closed'; file: string; clients: ReadonlyMap<string, RegisteredClient>; byCertSha256: ReadonlyMap<string, RegisteredClient> }
  | { kind: 'open'; ratePerSecond: number };

/** Names are what logs and refusals show, and a PSK identity on the wire: printable, no spaces. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
const CERT = /^cert-sha256:([0-9a-fA-F]{64})$/;
const PSK = /^psk:((?:[0-9a-fA-F]{2}){32,64})$/;
const RATE = /^([1-9][0-9]{0,6})\/s$/;
/**
 * Daemon names a `daemons=` list may hold (each listener knows which daemon it serves). `log-serve`
 * (`signerd log serve`) is one too, so a mirror or witness can be let read the log and sign nothing.
 */
export const DAEMON_NAMES = ['sign-rsa', 'verify-rsa', 'sign-ecdsa', 'verify-ecdsa', 'hmac', 'tezos', 'firmware', 'log-serve'] as const;
/** Largest registry file read; a file of 100,000 clients is about 10 MiB. */
const REGISTRY_BYTES_MAX = 16 * 1024 * 1024;

/** Reads and checks the registry; every problem is CONFIG_INVALID naming the file and line. */
export function loadClientRegistry(file: string): ClientRegistry {
  // One read, checked as it is read: any registry says who may sign, so nobody else may change it;
  // one holding pre-shared keys is a secret file too, checked on the same descriptor's mode.
  const { data, mode } = readCheckedFile(file, 'client registry', TRUSTED_MODE_CHECK, REGISTRY_BYTES_MAX);
  const registry = parseClientRegistry(data.toString('utf8'), file);
  if ([...registry.clients.values()].some((c) => c.credential.kind === 'psk')) checkMode(file, 'client registry with psk: keys', mode, SECRET_MODE_CHECK);
  data.fill(0);
  return registry;
}

export function parseClientRegistry(text: string, file: string): Extract<ClientRegistry, { kind: 'closed' }> {
  const clients = new Map<string, RegisteredClient>();
  const byCertSha256 = new Map<string, RegisteredClient>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') return;
    const where = `client registry ${file} line ${i + 1}`;
    const client = parseLine(line, where);
    if (clients.has(client.name)) throw new DaemonError('CONFIG_INVALID', `${where}: client "${client.name}" is registered twice`);
    if (client.credential.kind === 'cert') {
      const other = byCertSha256.get(client.credential.sha256);
      if (other) throw new DaemonError('CONFIG_INVALID', `${where}: the certificate of "${client.name}" is already registered as "${other.name}"`);
      byCertSha256.set(client.credential.sha256, client);
    }
    clients.set(client.name, client);
  });
  return { kind: 'closed', file, clients, byCertSha256 };
}

function parseLine(line: string, where: string): RegisteredClient {
  const [name, credential, ...options] = line.split(/\s+/);
  if (!name || !NAME.test(name)) throw new DaemonError('CONFIG_INVALID', `${where}: the client name must match ${NAME.source}`);
  if (!credential) throw new DaemonError('CONFIG_INVALID', `${where}: ${shown(name)} has no credential (cert-sha256:<64 hex> or psk:<64 to 128 hex>)`);
  const client: RegisteredClient = {
    name,
    credential: parseCredential(credential, where),
    daemons: null,
    notAfterMs: null,
    ratePerSecond: null,
    maxSessionMs: null,
  };
  const seen = new Set<string>();
  for (const option of options) {
    const eq = option.indexOf('=');
    const key = eq > 0 ? option.slice(0, eq) : option;
    const value = eq > 0 ? option.slice(eq + 1) : '';
    if (seen.has(key)) throw new DaemonError('CONFIG_INVALID', `${where}: option ${key} given twice`);
    seen.add(key);
    applyOption(client, key, value, where);
  }
  return client;
}

/**
 * A word of a registry line as an error may quote it: a PSK split by a space or wrapped onto the next
 * line puts key material where a name or an option should be, and an error must never echo that,
 * however short the piece (a key split every 8 characters leaves 8-character words).
 */
function shown(word: string): string {
  return /^[0-9a-f]+$/i.test(word) || word.length > 40 || looksRandom(word) ? 'a word that looks like key material (not shown)' : `"${word}"`;
}

/** Upper and lower case letters and digits in 12 characters or more: a piece of a key in text form (stunnel's PSK), not a name. */
function looksRandom(word: string): boolean {
  return word.length >= 12 && /[a-z]/.test(word) && /[A-Z]/.test(word) && /[0-9]/.test(word);
}

/** An unknown option is named only when it looks like one (a lowercase word): anything else may be a key's piece. */
function shownOption(key: string): string {
  return /^[a-z][a-z-]{0,30}$/.test(key) ? `"${key}"` : 'a word that looks like key material (not shown)';
}

function parseCredential(text: string, where: string): ClientCredential {
  const cert = CERT.exec(text);
  if (cert) return { kind: 'cert', sha256: cert[1]!.toLowerCase() };
  const psk = PSK.exec(text);
  if (psk) return { kind: 'psk', key: Buffer.from(psk[1]!, 'hex') };
  // The text may be a key: never echo it.
  throw new DaemonError('CONFIG_INVALID', `${where}: the credential must be cert-sha256:<64 hex> or psk:<hex of 32 to 64 bytes>`);
}

function applyOption(client: RegisteredClient, key: string, value: string, where: string): void {
  switch (key) {
    case 'daemons': {
      const names = value.split(',').filter((n) => n.length > 0);
      const unknown = names.find((n) => !(DAEMON_NAMES as readonly string[]).includes(n));
      if (names.length === 0 || unknown !== undefined) throw new DaemonError('CONFIG_INVALID', `${where}: daemons= takes a list of ${DAEMON_NAMES.join(', ')}`);
      client.daemons = new Set(names);
      return;
    }
    case 'not-after': {
      // ISO 8601 in UTC, as the registry asks: a date alone is midnight UTC.
      const ms = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?Z)?$/.test(value) ? Date.parse(value) : NaN;
      if (Number.isNaN(ms)) throw new DaemonError('CONFIG_INVALID', `${where}: not-after= takes an ISO 8601 UTC time, e.g. 2027-01-31T00:00:00Z`);
      client.notAfterMs = ms;
      return;
    }
    case 'rate': {
      const rate = RATE.exec(value);
      if (!rate) throw new DaemonError('CONFIG_INVALID', `${where}: rate= takes <n>/s, e.g. rate=50/s`);
      client.ratePerSecond = Number(rate[1]);
      return;
    }
    case 'max-session': {
      if (!/^[1-9][0-9]{0,8}$/.test(value)) throw new DaemonError('CONFIG_INVALID', `${where}: max-session= takes whole seconds, e.g. max-session=3600`);
      client.maxSessionMs = Number(value) * 1000;
      return;
    }
    default:
      throw new DaemonError('CONFIG_INVALID', `${where}: unknown option ${shownOption(key)} (daemons=, not-after=, rate=, max-session=)`);
  }
}

/** The pin of a certificate as the registry writes it: SHA-256 of its DER, lowercase hex. */
export function certificatePin(fingerprint256: string): string {
  return fingerprint256.replaceAll(':', '').toLowerCase();
}
