// What one log entry says, per event kind, and its canonical encoding: canonical JSON (RFC 8785
// form, see canonical-json.ts) with a version field, so the same event always gives the same bytes.
// Signed content never enters the log, only its SHA-256.
import { DaemonError } from '../errors.js';
import { LOG_ENTRY_BYTES_MAX, LOG_FIELD_CHARS_MAX, PUBLIC_KEY_BYTES_MAX, SIGNATURE_BYTES_MAX } from '../limits.js';
import { canonicalObject, jsonInteger, jsonString, type JsonField } from './canonical-json.js';

const LOG_ENTRY_VERSION = 1;

interface Common {
  /** When it happened (ms since the epoch); the appender fills in the time of the call if absent. */
  timeMs?: number;
  /** The signerd part that made the change: a daemon name (sign-rsa, tezos, ...) or `admin`. */
  source: string;
  /** The authenticated client, once client channels exist. */
  client?: string;
}

interface SignEvent extends Common {
  kind: 'sign';
  keyId: string;
  algorithm: string;
  /**
   * SHA-256 of the exact bytes signed (for Tezos, the watermarked payload). Absent only when the
   * daemon never saw them: a firmware digest flow with another hash, which logs `firmware.digest`.
   */
  messageSha256?: Buffer;
  signature: Buffer;
  /** Consensus requests carry chain, level and round; other requests (generic operations) only their kind. */
  tezos?: { chainId?: string; requestKind: string; level?: number; round?: number };
  /** The key slot (kmodsign, swupdate-rsa, ...), the artifact's name when the request names one, and for digest flows `<hash>:<hex>` as the client sent it. */
  firmware?: { format: string; artifact?: string; digest?: string };
}

/** A signature's validity changed by hand: revoked, reinstated, or given an expiry by an admin. */
interface SignatureStateEvent extends Common {
  kind: 'revoke' | 'reinstate' | 'expire';
  signature: Buffer;
  /** reinstate: the new expiry (null: never); expire: the expiry set. */
  expiresMs?: number | null;
}

interface WatermarkEvent extends Common {
  kind: 'watermark-set' | 'watermark-import';
  chainId: string;
  pkh: string;
  requestKind: string;
  level: number;
  round: number;
  /** The mark was lowered on purpose (--force). */
  forced: boolean;
}

interface KeyLoadedEvent extends Common {
  kind: 'key-loaded';
  keyId: string;
  algorithm: string;
  backend: 'file' | 'pkcs11';
  /** SubjectPublicKeyInfo DER of an asymmetric key, so an auditor learns which key signed. */
  publicKey?: Buffer;
}

export type LogEvent = SignEvent | SignatureStateEvent | WatermarkEvent | KeyLoadedEvent;
type LogEventKind = LogEvent['kind'];

const LOG_EVENT_KINDS: readonly LogEventKind[] = ['sign', 'revoke', 'reinstate', 'expire', 'watermark-set', 'watermark-import', 'key-loaded'];

export interface EncodedEntry {
  bytes: Buffer;
  /** The signature the entry is about (sign, revoke, ...), for lookups; null for other kinds. */
  signature: Buffer | null;
}

const bad = (why: string): DaemonError => new DaemonError('BAD_REQUEST', `log entry: ${why}`);

function text(value: unknown, field: string): string;
function text(value: unknown, field: string, optional: true): string | undefined;
function text(value: unknown, field: string, optional = false): string | undefined {
  if (value === undefined && optional) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > LOG_FIELD_CHARS_MAX)
    throw bad(`${field} must be a string of 1..${LOG_FIELD_CHARS_MAX} characters`);
  return jsonString(value);
}

function count(value: unknown, field: string): string {
  if (!Number.isSafeInteger(value) || (value as number) < 0) throw bad(`${field} must be a non-negative integer`);
  return jsonInteger(value as number);
}

function bytes(value: unknown, field: string, sizes: { exact?: number; max?: number }, encoding: 'hex' | 'base64' = 'hex'): string {
  const max = sizes.exact ?? sizes.max ?? SIGNATURE_BYTES_MAX;
  if (!Buffer.isBuffer(value) || value.length === 0 || value.length > max || (sizes.exact !== undefined && value.length !== sizes.exact)) {
    throw bad(`${field} must be ${sizes.exact ?? `1..${max}`} bytes`);
  }
  // Hex and base64 need no JSON escaping.
  return `"${value.toString(encoding)}"`;
}

function fields(e: LogEvent): JsonField[] {
  switch (e.kind) {
    case 'sign':
      return [
        ['keyId', text(e.keyId, 'keyId')],
        ['algorithm', text(e.algorithm, 'algorithm')],
        [
          'messageSha256',
          e.messageSha256 === undefined && e.firmware?.digest !== undefined ? undefined : bytes(e.messageSha256, 'messageSha256', { exact: 32 }),
        ],
        ['signature', bytes(e.signature, 'signature', {})],
        [
          'tezos',
          e.tezos &&
            canonicalObject([
              ['chainId', text(e.tezos.chainId, 'tezos.chainId', true)],
              ['requestKind', text(e.tezos.requestKind, 'tezos.requestKind')],
              ['level', e.tezos.level === undefined ? undefined : count(e.tezos.level, 'tezos.level')],
              ['round', e.tezos.round === undefined ? undefined : count(e.tezos.round, 'tezos.round')],
            ]),
        ],
        [
          'firmware',
          e.firmware &&
            canonicalObject([
              ['format', text(e.firmware.format, 'firmware.format')],
              ['artifact', text(e.firmware.artifact, 'firmware.artifact', true)],
              ['digest', text(e.firmware.digest, 'firmware.digest', true)],
            ]),
        ],
      ];
    case 'revoke':
    case 'reinstate':
    case 'expire':
      return [
        ['signature', bytes(e.signature, 'signature', {})],
        ['expiresMs', e.expiresMs === undefined ? undefined : e.expiresMs === null ? 'null' : count(e.expiresMs, 'expiresMs')],
      ];
    case 'watermark-set':
    case 'watermark-import':
      if (typeof e.forced !== 'boolean') throw bad('forced must be a boolean');
      return [
        ['chainId', text(e.chainId, 'chainId')],
        ['pkh', text(e.pkh, 'pkh')],
        ['requestKind', text(e.requestKind, 'requestKind')],
        ['level', count(e.level, 'level')],
        ['round', count(e.round, 'round')],
        ['forced', String(e.forced)],
      ];
    case 'key-loaded':
      if (e.backend !== 'file' && e.backend !== 'pkcs11') throw bad('backend must be file or pkcs11');
      return [
        ['keyId', text(e.keyId, 'keyId')],
        ['algorithm', text(e.algorithm, 'algorithm')],
        ['backend', jsonString(e.backend)],
        ['publicKey', e.publicKey === undefined ? undefined : bytes(e.publicKey, 'publicKey', { max: PUBLIC_KEY_BYTES_MAX }, 'base64')],
      ];
    default:
      throw bad(`unknown kind ${JSON.stringify((e as { kind: unknown }).kind)}`);
  }
}

/** The entry's canonical bytes; BAD_REQUEST when a field is missing, malformed or too long. */
export function encodeLogEntry(e: LogEvent, nowMs: number): EncodedEntry {
  const json = canonicalObject([
    ...fields(e),
    ['v', jsonInteger(LOG_ENTRY_VERSION)],
    ['kind', jsonString(e.kind)],
    ['timeMs', count(e.timeMs ?? nowMs, 'timeMs')],
    ['source', text(e.source, 'source')],
    ['client', text(e.client, 'client', true)],
  ]);
  const encoded = Buffer.from(json, 'utf8');
  if (encoded.length > LOG_ENTRY_BYTES_MAX) throw bad(`${encoded.length} bytes is over ${LOG_ENTRY_BYTES_MAX}`);
  return { bytes: encoded, signature: 'signature' in e ? Buffer.from(e.signature) : null };
}

/** A logged entry read back: the JSON object, or null when the bytes are not a version-1 entry. */
export function decodeLogEntry(entry: Uint8Array): Record<string, unknown> | null {
  try {
    const value = JSON.parse(Buffer.from(entry).toString('utf8')) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
    const object = value as Record<string, unknown>;
    return object['v'] === LOG_ENTRY_VERSION && LOG_EVENT_KINDS.includes(object['kind'] as LogEventKind) ? object : null;
  } catch {
    return null;
  }
}
