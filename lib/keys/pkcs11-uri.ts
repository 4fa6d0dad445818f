// RFC 7512 `pkcs11:` URIs naming an HSM key: token, object, id, type, slot and library attributes in
// the path; module-path and pin-source in the query. A PIN never travels in the URI (pin-value is refused: argv is public).
import path from 'node:path';
import { DaemonError } from '../errors.js';

type Pkcs11ObjectType = 'private' | 'secret-key' | 'public' | 'cert';

/** The token, slot and library a URI names; a missing attribute matches anything. */
export interface TokenSelector {
  token?: string;
  serial?: string;
  slotId?: number;
  /** Token manufacturerID and model (C_GetTokenInfo), matched without their space padding. */
  manufacturer?: string;
  model?: string;
  /** Slot description and manufacturerID (C_GetSlotInfo). */
  slotDescription?: string;
  slotManufacturer?: string;
  /** The module's manufacturerID, libraryDescription and libraryVersion (C_GetInfo). */
  libraryManufacturer?: string;
  libraryDescription?: string;
  libraryVersion?: LibraryVersion;
}

export interface Pkcs11Uri extends TokenSelector {
  /** Absolute path of the vendor's PKCS#11 module (.so), from module-path=. */
  modulePath: string;
  /** CKA_LABEL of the key object. */
  object?: string;
  /** CKA_ID of the key object, as bytes. */
  id?: Buffer;
  type?: Pkcs11ObjectType;
  /** Where the user PIN is: `file:/abs/path`, `/abs/path`, or `credential:<name>` ($CREDENTIALS_DIRECTORY). */
  pinSource?: string;
}

interface LibraryVersion {
  major: number;
  minor: number;
}

/** Path attributes matched as text against the module, slot or token information, by field name. */
const TEXT_SELECTORS = {
  token: 'token',
  serial: 'serial',
  manufacturer: 'manufacturer',
  model: 'model',
  'slot-description': 'slotDescription',
  'slot-manufacturer': 'slotManufacturer',
  'library-manufacturer': 'libraryManufacturer',
  'library-description': 'libraryDescription',
} as const;

const PATH_ATTRIBUTES = new Set([
  'token',
  'serial',
  'slot-id',
  'object',
  'id',
  'type',
  'manufacturer',
  'model',
  'library-manufacturer',
  'library-description',
  'library-version',
  'slot-description',
  'slot-manufacturer',
]);
const QUERY_ATTRIBUTES = new Set(['module-path', 'module-name', 'pin-source', 'pin-value']);
const OBJECT_TYPES: readonly Pkcs11ObjectType[] = ['private', 'secret-key', 'public', 'cert'];

export function isPkcs11Uri(text: string): boolean {
  return /^pkcs11:/i.test(text);
}

/** Parses and checks a URI; every failure is CONFIG_INVALID naming the attribute, never echoing a PIN. */
export function parsePkcs11Uri(text: string): Pkcs11Uri {
  if (!isPkcs11Uri(text)) throw invalid('must start with pkcs11:');
  const body = text.slice('pkcs11:'.length);
  const q = body.indexOf('?');
  const pathPart = q === -1 ? body : body.slice(0, q);
  const queryPart = q === -1 ? '' : body.slice(q + 1);
  const attrs = new Map<string, Buffer>();
  collect(pathPart, ';', PATH_ATTRIBUTES, attrs);
  collect(queryPart, '&', QUERY_ATTRIBUTES, attrs);
  if (attrs.has('pin-value')) throw invalid('pin-value= is refused: a PIN in a URI reaches argv and logs; use pin-source=file:/path (mode 0600)');
  if (attrs.has('module-name')) throw invalid('module-name= is not supported; give module-path=/absolute/path/to/module.so');
  const modulePath = text1(attrs, 'module-path');
  if (!modulePath) throw invalid('module-path= is required (e.g. module-path=/usr/lib/softhsm/libsofthsm2.so)');
  if (!path.isAbsolute(modulePath)) throw invalid('module-path= must be an absolute path');
  const uri: Pkcs11Uri = { modulePath };
  for (const [name, key] of Object.entries(TEXT_SELECTORS)) assign(uri, key, text1(attrs, name));
  assign(uri, 'object', text1(attrs, 'object'));
  assign(uri, 'pinSource', text1(attrs, 'pin-source'));
  if (attrs.has('id')) uri.id = attrs.get('id')!;
  const slot = text1(attrs, 'slot-id');
  if (slot !== undefined) {
    if (!/^[0-9]{1,20}$/.test(slot)) throw invalid('slot-id= must be a decimal number');
    uri.slotId = Number(slot);
  }
  const version = text1(attrs, 'library-version');
  if (version !== undefined) uri.libraryVersion = parseLibraryVersion(version);
  const type = text1(attrs, 'type');
  if (type !== undefined) {
    if (!OBJECT_TYPES.includes(type as Pkcs11ObjectType)) throw invalid(`type= must be one of ${OBJECT_TYPES.join(', ')}`);
    uri.type = type as Pkcs11ObjectType;
  }
  return uri;
}

/** The URI without its query: safe to log (names token, library and object only). */
export function describePkcs11Uri(uri: Pkcs11Uri): string {
  const parts: string[] = [];
  for (const [name, key] of Object.entries(TEXT_SELECTORS)) {
    const value = uri[key];
    if (value !== undefined) parts.push(`${name}=${encodeURIComponent(value)}`);
  }
  if (uri.libraryVersion !== undefined) parts.push(`library-version=${uri.libraryVersion.major}.${uri.libraryVersion.minor}`);
  if (uri.slotId !== undefined) parts.push(`slot-id=${uri.slotId}`);
  if (uri.object !== undefined) parts.push(`object=${encodeURIComponent(uri.object)}`);
  if (uri.id !== undefined) parts.push(`id=${percentBytes(uri.id)}`);
  if (uri.type !== undefined) parts.push(`type=${uri.type}`);
  return `pkcs11:${parts.join(';')}`;
}

export function percentBytes(bytes: Buffer): string {
  return [...bytes].map((b) => '%' + b.toString(16).padStart(2, '0')).join('');
}

/** RFC 7512 `1*DIGIT [ "." 1*DIGIT ]`: the minor defaults to 0; both are CK_BYTEs. */
function parseLibraryVersion(text: string): LibraryVersion {
  const match = /^([0-9]{1,3})(?:\.([0-9]{1,3}))?$/.exec(text);
  const major = Number(match?.[1]);
  const minor = Number(match?.[2] ?? '0');
  if (!match || major > 255 || minor > 255) throw invalid('library-version= must be M or M.N (decimal, 0..255 each)');
  return { major, minor };
}

function collect(part: string, separator: string, known: Set<string>, into: Map<string, Buffer>): void {
  if (part.length === 0) return;
  for (const item of part.split(separator)) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw invalid(`attribute "${item.slice(0, 40)}" has no name=value form`);
    const name = item.slice(0, eq).toLowerCase();
    // Vendor attributes (x-...) are allowed and ignored, as RFC 7512 section 2.3 lets consumers do.
    if (name.startsWith('x-')) continue;
    if (!known.has(name)) throw invalid(`unknown attribute ${name.slice(0, 40)}=`);
    if (into.has(name)) throw invalid(`attribute ${name}= given twice`);
    into.set(name, percentDecode(item.slice(eq + 1), name));
  }
}

function percentDecode(text: string, name: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch !== '%') {
      bytes.push(...Buffer.from(ch, 'utf8'));
      continue;
    }
    const hex = text.slice(i + 1, i + 3);
    if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw invalid(`${name}= has a bad percent-escape`);
    bytes.push(parseInt(hex, 16));
    i += 2;
  }
  return Buffer.from(bytes);
}

function text1(attrs: Map<string, Buffer>, name: string): string | undefined {
  const value = attrs.get(name);
  return value === undefined ? undefined : value.toString('utf8');
}

type TextKey = (typeof TEXT_SELECTORS)[keyof typeof TEXT_SELECTORS] | 'object' | 'pinSource';

function assign<K extends TextKey>(uri: Pkcs11Uri, key: K, value: string | undefined): void {
  if (value !== undefined) uri[key] = value;
}

function invalid(why: string): DaemonError {
  return new DaemonError('CONFIG_INVALID', `pkcs11 URI: ${why}`);
}
