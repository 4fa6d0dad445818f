// Reads keys.json: the seed's format (keys as dict or list, global `policy`, bind_addr/bind_port) and
// signerd's additions (per-key `policy`, `secret_key_file`, `authorized_keys`, HSM keys). Secrets never reach messages.
import path from 'node:path';
import { DaemonError } from '../../../lib/errors.js';
import { checkMode, readPassphraseFile, readSecretFile, SECRET_MODE_CHECK } from '../../../lib/keys/key-file.js';
import { readTrustedFile } from '../../../lib/config/trusted-file.js';
import type { HsmKeyOptions } from '../../../lib/keys/pkcs11-signing-key.js';
import { HSM_TOP_FIELDS, hsmEntryOf, openHsmEntry, type HsmKeyEntry } from './hsm-key-entry.js';
import type { HsmTezosKey } from '../keys/hsm-tezos-key.js';
import { decodePublicKey, publicKeyHashOf } from '../keys/key-encoding.js';
import { SECRET_KEY_PREFIXES, secretKeyText, withoutOctezTag } from '../keys/secret-key-text.js';
import { loadTezosKey, type TezosKey } from '../keys/tezos-key.js';
import type { KeyPolicy } from '../policy/key-policy.js';
import { asObject, invalid, shown, stringList } from './json-values.js';
import { parsePolicy } from './policy-config.js';
import { jsonSyntaxError } from '../../../lib/config/config-file.js';

/** One served key: its signer, its policy, and who may ask it to sign. */
export interface TezosKeyConfig {
  pkh: string;
  key: TezosKey;
  policy: KeyPolicy;
  /** Public keys (edpk…) of clients allowed to authenticate requests for this key; overrides the global list. */
  authorized?: string[];
}

export interface TezosConfig {
  keys: Map<string, TezosKeyConfig>;
  bindAddr?: string;
  bindPort?: number;
  /** Public keys (edpk…/sppk…/p2pk…/BLpk…) of clients allowed to authenticate; empty: not required. */
  authorizedKeys: string[];
}

/** Text that starts like a secret key (a key entry named by its secret, the seed's list form). */
const SECRET_TEXT = new RegExp(`^(${SECRET_KEY_PREFIXES.join('|')})`);
/** Anything in the file that looks like an inline b58 secret key. */
const INLINE_SECRET = new RegExp(`(${SECRET_KEY_PREFIXES.join('|')})[1-9A-HJ-NP-Za-km-z]{40,}`);
/** Fields that hold a secret key whatever their value looks like. */
const SECRET_FIELDS = new Set(['secret_key', 'private_key']);
/** Seed fields for its AWS and ratchet back ends: accepted and ignored (signerd has its own). */
const IGNORED_FIELDS = new Set(['chain_ratchet', 'ratchet', 'aws_region', 'ddb_table']);
const TOP_FIELDS = new Set(['keys', 'policy', 'authorized_keys', 'bind_addr', 'bind_port', ...HSM_TOP_FIELDS, ...IGNORED_FIELDS]);
const ENTRY_FIELDS = new Set([
  'signer',
  'signer_args',
  'public_key',
  'secret_key',
  'private_key',
  'secret_key_file',
  'pkcs11_uri',
  'policy',
  'authorized_keys',
  'pkh',
]);

interface KeyContext {
  file: string;
  top: Record<string, unknown>;
  passphrase: Buffer | undefined;
  globalPolicy: unknown;
}

/** A key entry as parsed: a loaded local key, or an HSM key to open at start-up. */
type ParsedEntry = { local: TezosKeyConfig } | ParsedHsmEntry;

interface ParsedHsmEntry {
  hsm: HsmKeyEntry;
  policy: KeyPolicy;
  authorized?: string[];
}

/** A configuration whose HSM keys are open; `close` ends their sessions. */
export interface OpenTezosConfig extends TezosConfig {
  close(): Promise<void>;
}

/** Local keys only: a keys.json naming HSM keys needs `openTezosConfig` (the daemon). */
export function loadTezosConfig(file: string, opts: { passphraseFile?: string }): TezosConfig {
  const { config, entries } = parseTezosConfig(file, opts);
  for (const entry of entries) {
    if (!('local' in entry)) throw new DaemonError('CONFIG_INVALID', `${entry.hsm.where}: HSM keys are opened by the daemon only`);
    config.keys.set(entry.local.pkh, entry.local);
  }
  return config;
}

/** Reads keys.json and opens its HSM keys (tokens, logins, a test signature each); order is kept. */
export async function openTezosConfig(file: string, opts: { passphraseFile?: string }, hsm: HsmKeyOptions): Promise<OpenTezosConfig> {
  const { config, entries } = parseTezosConfig(file, opts);
  const opened: HsmTezosKey[] = [];
  const close = async (): Promise<void> => {
    await Promise.all(opened.splice(0).map((key) => key.close()));
  };
  try {
    for (const entry of entries) {
      if ('local' in entry) {
        config.keys.set(entry.local.pkh, entry.local);
        continue;
      }
      // One at a time: each open logs in, and a wrong PIN must stop before a second attempt.
      const key = await openHsmEntry(entry.hsm, hsm);
      opened.push(key);
      const keyConfig: TezosKeyConfig = { pkh: key.pkh, key, policy: entry.policy };
      if (entry.authorized !== undefined) keyConfig.authorized = entry.authorized;
      config.keys.set(key.pkh, keyConfig);
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { ...config, close };
}

function parseTezosConfig(file: string, opts: { passphraseFile?: string }): { config: TezosConfig; entries: ParsedEntry[] } {
  const { text, mode } = readTrustedFile(file, 'keys file');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new DaemonError('CONFIG_INVALID', `keys file ${file}: not valid JSON (${jsonSyntaxError(err as SyntaxError, text)})`);
  }
  // A file holding secret keys must be as private as a key file (checked on the mode it was read with).
  if (holdsSecret(parsed)) checkMode(file, 'keys file', mode, SECRET_MODE_CHECK);
  const top = asObject(parsed, `keys file ${file}`);
  for (const field of Object.keys(top)) if (!TOP_FIELDS.has(field)) throw invalid(`${file}: ${shown(field)}`, 'unknown field');
  const passphrase = opts.passphraseFile ? readPassphraseFile(opts.passphraseFile) : undefined;
  try {
    const ctx: KeyContext = { file, top, passphrase, globalPolicy: top['policy'] };
    const entries = loadKeys(top['keys'], ctx);
    const config: TezosConfig = { keys: new Map(), ...bindSettings(top, file), authorizedKeys: publicKeys(top['authorized_keys'], `${file}: authorized_keys`) };
    return { config, entries };
  } finally {
    passphrase?.fill(0);
  }
}

/**
 * Whether parsed keys.json holds a secret key anywhere: a `secret_key` / `private_key` field, or a
 * name or string holding an inline b58 secret. Decided on the parsed values, not the file's text, so
 * a JSON escape (`"\u0065dsk…"`) hides nothing; walked without recursion, as nesting is unbounded.
 */
function holdsSecret(parsed: unknown): boolean {
  const pending: unknown[] = [parsed];
  while (pending.length > 0) {
    const value = pending.pop();
    if (typeof value === 'string') {
      if (INLINE_SECRET.test(value)) return true;
    } else if (Array.isArray(value)) {
      for (const item of value) pending.push(item);
    } else if (typeof value === 'object' && value !== null) {
      for (const [name, inner] of Object.entries(value)) {
        if (SECRET_FIELDS.has(name) || INLINE_SECRET.test(name)) return true;
        pending.push(inner);
      }
    }
  }
  return false;
}

function bindSettings(top: Record<string, unknown>, file: string): { bindAddr?: string; bindPort?: number } {
  const out: { bindAddr?: string; bindPort?: number } = {};
  const addr = top['bind_addr'];
  if (addr !== undefined) {
    if (typeof addr !== 'string' || addr.length === 0) throw invalid(`${file}: bind_addr`, 'expected an address');
    out.bindAddr = addr;
  }
  // The seed's own default is the string "5000", so numeric strings are accepted.
  const rawPort = top['bind_port'];
  const port = typeof rawPort === 'string' && /^[0-9]{1,5}$/.test(rawPort) ? Number(rawPort) : rawPort;
  if (port !== undefined) {
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) throw invalid(`${file}: bind_port`, 'expected a port number');
    out.bindPort = port;
  }
  return out;
}

function publicKeys(value: unknown, where: string): string[] {
  const list = stringList(value, where);
  list.forEach((pk, i) => {
    if (decodePublicKey(pk) === null)
      throw invalid(`${where}[${i}]`, `"${shown(pk)}" is not a public key (edpk…/sppk…/p2pk…/BLpk…; key hashes cannot verify signatures)`);
  });
  return list;
}

function loadKeys(value: unknown, ctx: KeyContext): ParsedEntry[] {
  const entries: Array<[string, Record<string, unknown>, string]> = [];
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      if (typeof item !== 'string') throw invalid(`${ctx.file}: keys[${i}]`, 'expected "key[:signer[:args]]"');
      entries.push([withoutOctezTag(item), {}, `keys[${i}]`]);
    });
  } else {
    // Named by key hash or public key (and signer, HSM label), an entry is labelled so; named by anything
    // else (a secret key) by its place.
    Object.entries(asObject(value ?? {}, `${ctx.file}: keys`)).forEach(([name, entry], i) => {
      const label = name.split(':').every((part) => shown(part) === part) ? `keys.${name}` : `keys[${i}]`;
      entries.push([withoutOctezTag(name), asObject(entry ?? {}, `${ctx.file}: keys[${i}]`), label]);
    });
  }
  const parsed: ParsedEntry[] = [];
  const seen = new Set<string>();
  for (const [name, entry, label] of entries) {
    const config = loadEntry(name, entry, `${ctx.file}: ${label}`, ctx);
    const pkh = 'local' in config ? config.local.pkh : config.hsm.pkh;
    if (seen.has(pkh)) throw invalid(`${ctx.file}: ${label}`, `${pkh} is configured twice`);
    seen.add(pkh);
    parsed.push(config);
  }
  return parsed;
}

function loadEntry(name: string, entry: Record<string, unknown>, where: string, ctx: KeyContext): ParsedEntry {
  const [keyText = '', nameSigner, ...nameArgs] = name.split(':');
  const uriField = entry['pkcs11_uri'];
  const signer = nameSigner ?? entry['signer'] ?? (uriField !== undefined ? 'pkcs11_hsm' : 'local');
  if (signer === 'pkcs11_hsm') return loadHsmEntry(keyText, nameArgs, entry, where, ctx);
  if (signer !== 'local')
    throw invalid(
      where,
      `signer ${typeof signer === 'string' ? `"${shown(signer)}"` : 'that is not a string'} is not supported; give a local secret key (secret_key or secret_key_file) or an HSM key (pkcs11_uri)`,
    );
  if (uriField !== undefined) throw invalid(`${where}.pkcs11_uri`, 'an HSM key needs signer "pkcs11_hsm" or no signer, not "local"');
  for (const field of Object.keys(entry)) if (!ENTRY_FIELDS.has(field)) throw invalid(`${where}.${shown(field)}`, 'unknown field');
  const secret = secretOf(keyText, entry, where, ctx);
  if (secret === null) throw invalid(where, 'no secret key (secret_key, private_key or secret_key_file)');
  let key;
  try {
    key = loadTezosKey(secret, ctx.passphrase);
  } catch (err) {
    const code = err instanceof DaemonError ? err.code : 'KEY_LOAD_FAILED';
    throw new DaemonError(code, `${where}: ${(err as Error).message}`);
  }
  const claimed = [keyText, entry['public_key'], entry['pkh']].filter((v): v is string => typeof v === 'string' && v !== '' && !SECRET_TEXT.test(v));
  for (const c of claimed) {
    if (c !== key.pkh && c !== key.publicKey && publicKeyHashOf(c) !== key.pkh) throw invalid(where, `${shown(c)} does not match the secret key (${key.pkh})`);
  }
  const policyValue = entry['policy'] !== undefined ? entry['policy'] : ctx.globalPolicy;
  const policy: KeyPolicy = parsePolicy(policyValue, `${where}.policy`, key.curve === 'bls12-381');
  const config: TezosKeyConfig = { pkh: key.pkh, key, policy };
  if (entry['authorized_keys'] !== undefined) config.authorized = publicKeys(entry['authorized_keys'], `${where}.authorized_keys`);
  return { local: config };
}

/** An HSM key: named by pkh or public key, never with a secret beside it; opened later. */
function loadHsmEntry(keyText: string, nameArgs: string[], entry: Record<string, unknown>, where: string, ctx: KeyContext): ParsedEntry {
  for (const field of Object.keys(entry)) if (!ENTRY_FIELDS.has(field)) throw invalid(`${where}.${shown(field)}`, 'unknown field');
  for (const field of ['secret_key', 'private_key', 'secret_key_file']) {
    if (entry[field] !== undefined) throw invalid(`${where}.${field}`, 'an HSM key has no secret key in keys.json');
  }
  if (SECRET_TEXT.test(keyText)) throw invalid(where, 'an HSM key is named by its key hash or public key, not a secret key');
  const argsField = entry['signer_args'];
  if (argsField !== undefined && !(Array.isArray(argsField) && argsField.every((a) => typeof a === 'string')))
    throw invalid(`${where}.signer_args`, 'expected a list of strings');
  const args = nameArgs.length > 0 ? [nameArgs.join(':')] : (argsField ?? []);
  const claims = [keyText, entry['public_key'], entry['pkh']].filter((v): v is string => typeof v === 'string' && v !== '');
  const hsm = hsmEntryOf(where, entry['pkcs11_uri'], args, claims, { file: ctx.file, top: ctx.top });
  const policyValue = entry['policy'] !== undefined ? entry['policy'] : ctx.globalPolicy;
  const parsed: ParsedHsmEntry = { hsm, policy: parsePolicy(policyValue, `${where}.policy`, false) };
  if (entry['authorized_keys'] !== undefined) parsed.authorized = publicKeys(entry['authorized_keys'], `${where}.authorized_keys`);
  return parsed;
}

function secretOf(keyText: string, entry: Record<string, unknown>, where: string, ctx: KeyContext): string | null {
  for (const field of ['secret_key', 'private_key'] as const) {
    const v = entry[field];
    if (v === undefined) continue;
    if (typeof v !== 'string') throw invalid(`${where}.${field}`, 'expected a b58 secret key');
    return withoutOctezTag(v);
  }
  const fileField = entry['secret_key_file'];
  if (fileField !== undefined) {
    if (typeof fileField !== 'string') throw invalid(`${where}.secret_key_file`, 'expected a path');
    const keyFile = path.resolve(path.dirname(ctx.file), fileField);
    const raw = readSecretFile(keyFile, 'Tezos secret key file');
    const text = secretKeyText(raw);
    raw.fill(0);
    return text;
  }
  return SECRET_TEXT.test(keyText) ? keyText : null;
}
