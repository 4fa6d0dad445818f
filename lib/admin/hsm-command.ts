// `signerd hsm list|generate|import|public-key`: the keys a PKCS#11 token holds, and putting a key
// for each daemon into it. The token and PIN come from a pkcs11: URI (pin-source=file:...), never argv.
// `import --for tezos-*` also takes an octez secret key (edsk/spsk/p2sk, encrypted with --passphrase-file).
import crypto, { type KeyObject } from 'node:crypto';
import { Command, Option } from '@commander-js/extra-typings';
import { DaemonError, EXIT_CONFIG, failureLine } from '../errors.js';
import { DEFAULT_LIMITS } from '../limits.js';
import { RSA_BITS_MIN, RSA_BITS_MAX } from '../crypto/rsa-key-size.js';
import { keyIdOf, readSecretFile } from '../keys/key-file.js';
import { DAEMON_KEY_SPECS, generateKey, importPrivateKey, importSecret, type KeyName, type KeySpec } from '../keys/pkcs11-key-templates.js';
import { acquireModule, pkcs11js, releaseModule } from '../keys/pkcs11-module.js';
import { listTokens } from '../keys/pkcs11-slots.js';
import { findKeyObject, findObjects, readPublicKey, type ObjectRef } from '../keys/pkcs11-objects.js';
import { listObjects } from '../keys/pkcs11-listing.js';
import { openToken } from '../keys/pkcs11-signing-key.js';
import type { Pkcs11Token, SessionContext } from '../keys/pkcs11-token.js';
import { describePkcs11Uri, parsePkcs11Uri, percentBytes, type Pkcs11Uri } from '../keys/pkcs11-uri.js';
import { writeNewFile } from '../config/new-file.js';

const URI_HELP = 'pkcs11:token=<label>;object=<label>?module-path=/path/module.so&pin-source=file:/path/pin';

/**
 * A key format a daemon knows and this generic command does not (Tezos b58 secret keys, key hashes).
 * The daemon that owns the format supplies it; bin/cli.ts passes it in.
 */
export interface DaemonKeyFormat {
  /** The `--for` values it serves. */
  readonly daemons: readonly string[];
  /** A private key from a file that is not PEM, with the identity (e.g. pkh) the token's copy must show. */
  readPrivateKey(material: Buffer, opts: ImportOptions): { privateKey: KeyObject; identity: string };
  /** The identity of a public key, and extra lines to print after generate/import. */
  describe(publicKey: KeyObject, keyUri: string): { identity: string; lines: string[] };
}

export function hsmCommand(formats: readonly DaemonKeyFormat[] = []): Command {
  const formatFor = (daemon: string): DaemonKeyFormat | undefined => formats.find((f) => f.daemons.includes(daemon));
  const hsm = new Command('hsm').description('PKCS#11 tokens: list keys, generate or import a key for a daemon, print a public key');
  hsm
    .command('list')
    .description('list the key objects a token holds, each with the pkcs11: URI a daemon takes (no token= in the URI: list the tokens)')
    .requiredOption('--token <uri>', `token URI: ${URI_HELP}`)
    .action((opts: { token: string }) => run('list', () => listAction(opts.token)));
  hsm
    .command('generate')
    .description('generate a key inside the token for a daemon (private half sensitive, never extractable)')
    .requiredOption('--key <uri>', `key URI, object= names the new key: ${URI_HELP}`)
    .addOption(new Option('--for <daemon>', 'the daemon that will use the key').choices(Object.keys(DAEMON_KEY_SPECS)).makeOptionMandatory())
    .option('--bits <bits>', 'RSA modulus size (default: 2048 for sign-rsa, 3072 for firmware)')
    .option('--public-out <file>', "also write the public key PEM here (for verify daemons' --keyring)")
    .action((opts: { key: string; for: string; bits?: string; publicOut?: string }) => run('generate', () => generateAction(opts, formatFor(opts.for))));
  hsm
    .command('import')
    .description('import a PEM private key (for tezos-*, also an edsk/spsk/p2sk secret key; for hmac, a raw secret file) into the token')
    .requiredOption('--key <uri>', `key URI, object= names the new key: ${URI_HELP}`)
    .addOption(new Option('--for <daemon>', 'the daemon that will use the key').choices(Object.keys(DAEMON_KEY_SPECS)).makeOptionMandatory())
    .requiredOption('--from <file>', 'PEM private key, a Tezos secret key (edsk/spsk/p2sk/edesk/spesk/p2esk), or the raw HMAC secret; mode 0600')
    .option('--passphrase-file <file>', 'passphrase of an encrypted Tezos key (edesk/spesk/p2esk); mode 0600')
    .option('--public-out <file>', 'also write the public key PEM here')
    .action((opts: ImportOptions) => run('import', () => importAction(opts, formatFor(opts.for))));
  hsm
    .command('public-key')
    .description("print the public key PEM of an HSM key (for verify daemons' --keyring)")
    .requiredOption('--key <uri>', `key URI: ${URI_HELP}`)
    .action((opts: { key: string }) => run('public-key', () => publicKeyAction(opts.key)));
  return hsm;
}

async function run(name: string, action: () => Promise<void>): Promise<void> {
  try {
    await action();
  } catch (err) {
    process.stderr.write(failureLine(`signerd hsm ${name}`, err));
    process.exitCode = EXIT_CONFIG;
  }
}

async function withToken<T>(uri: Pkcs11Uri, readWrite: boolean, fn: (token: Pkcs11Token) => T): Promise<T> {
  const token = openToken(uri, { callMsMax: DEFAULT_LIMITS.backendCallMsMax, sessionsMax: 1 }, readWrite);
  try {
    return fn(token);
  } finally {
    await token.close();
  }
}

async function listAction(uriText: string): Promise<void> {
  const uri = parsePkcs11Uri(uriText);
  if (uri.token === undefined && uri.serial === undefined && uri.slotId === undefined) return listTokensAction(uri);
  const lines = await withToken(uri, false, (token) => token.withSessionSync((ctx) => listObjects(ctx)));
  const base = describePkcs11Uri({ modulePath: uri.modulePath, token: uri.token, serial: uri.serial, slotId: uri.slotId });
  for (const o of lines) {
    const id = o.id.length ? `;id=${percentBytes(o.id)}` : '';
    process.stdout.write(
      `${o.objectClass}\t${o.keyType}\tlabel=${o.label}\tid=${o.id.toString('hex')}\t${base};object=${encodeURIComponent(o.label)}${id};type=${o.uriType}\n`,
    );
  }
  if (lines.length === 0) process.stdout.write('no key objects on this token\n');
}

/** No token named: show the tokens the module sees, so an operator can write the URI. */
function listTokensAction(uri: Pkcs11Uri): void {
  const module = acquireModule(uri.modulePath);
  try {
    for (const t of listTokens(module.api))
      process.stdout.write(`token\tslot-id=${t.slotId}\tserial=${t.serial}\tpkcs11:token=${encodeURIComponent(t.label)}\n`);
  } finally {
    releaseModule(module);
  }
}

function specFor(daemon: string, bits?: string): KeySpec {
  const spec = DAEMON_KEY_SPECS[daemon];
  if (!spec) throw new DaemonError('CONFIG_INVALID', `--for: unknown daemon ${daemon}`);
  if (bits === undefined) return spec;
  const count = /^[0-9]{4,5}$/.test(bits) ? Number(bits) : NaN;
  if (spec.kind !== 'rsa') throw new DaemonError('CONFIG_INVALID', `--bits is for RSA keys; --for ${daemon} takes an ${spec.kind} key`);
  if (!(count >= RSA_BITS_MIN && count <= RSA_BITS_MAX))
    throw new DaemonError('CONFIG_INVALID', `--bits: from ${RSA_BITS_MIN} to ${RSA_BITS_MAX}, got ${bits.slice(0, 12)}`);
  return { kind: 'rsa', bits: count };
}

function newKeyName(uri: Pkcs11Uri): KeyName {
  if (uri.object === undefined) throw new DaemonError('CONFIG_INVALID', 'the key URI needs object=<label> for the new key');
  return { label: uri.object, id: uri.id ?? crypto.randomBytes(8) };
}

function refuseExisting(token: Pkcs11Token, name: KeyName): void {
  const P = pkcs11js();
  const existing = token.withSessionSync((ctx) => findObjects(ctx, [{ type: P.CKA_LABEL, value: name.label }], 1));
  if (existing.length > 0) throw new DaemonError('CONFIG_INVALID', `the token already holds an object labelled ${name.label}; refusing to add a second`);
}

async function generateAction(opts: { key: string; for: string; bits?: string; publicOut?: string }, format: DaemonKeyFormat | undefined): Promise<void> {
  const uri = parsePkcs11Uri(opts.key);
  const spec = specFor(opts.for, opts.bits);
  const name = newKeyName(uri);
  const publicKey = await withToken(uri, true, (token) => {
    refuseExisting(token, name);
    return token.withSessionSync((ctx) => {
      generateKey(ctx, spec, name);
      return spec.kind === 'hmac' ? null : readBack(ctx, name);
    });
  });
  report(uri, name, publicKey, opts.publicOut, format);
}

export interface ImportOptions {
  key: string;
  for: string;
  from: string;
  passphraseFile?: string;
  publicOut?: string;
}

/**
 * What `signerd hsm import` does, without printing: reads the key (or HMAC secret) file, writes it into
 * the token under the URI's object= label, and returns the key's name and public half (null for a secret).
 */
export async function importIntoToken(
  opts: ImportOptions,
  format: DaemonKeyFormat | undefined,
): Promise<{ uri: Pkcs11Uri; name: KeyName; publicKey: KeyObject | null }> {
  const uri = parsePkcs11Uri(opts.key);
  const spec = specFor(opts.for);
  const name = newKeyName(uri);
  if (opts.passphraseFile !== undefined && format === undefined) {
    throw new DaemonError('CONFIG_INVALID', '--passphrase-file applies to encrypted Tezos keys (--for tezos-tz1|tezos-tz2|tezos-tz3) only');
  }
  const material = readSecretFile(opts.from, spec.kind === 'hmac' ? 'HMAC secret' : 'private key');
  try {
    // A file that is not PEM, for a daemon with its own key format, is read by that format, in memory.
    const foreign = format !== undefined && !material.includes('-----BEGIN') ? format.readPrivateKey(material, opts) : null;
    const publicKey = await withToken(uri, true, (token) => {
      refuseExisting(token, name);
      return token.withSessionSync((ctx) => {
        if (spec.kind === 'hmac') {
          importSecret(ctx, material, name);
          return null;
        }
        const imported = importPrivateKey(ctx, spec, foreign?.privateKey ?? material, name);
        // A daemon format's identity is checked on the key the token now holds.
        return format === undefined ? imported : readBack(ctx, name);
      });
    });
    if (foreign !== null && publicKey !== null && format !== undefined) {
      const held = format.describe(publicKey, '').identity;
      if (held !== foreign.identity) throw new DaemonError('KEY_LOAD_FAILED', `the token's key ${name.label} is ${held}, not ${foreign.identity}; remove it`);
    }
    return { uri, name, publicKey };
  } finally {
    material.fill(0);
  }
}

async function importAction(opts: ImportOptions, format: DaemonKeyFormat | undefined): Promise<void> {
  const { uri, name, publicKey } = await importIntoToken(opts, format);
  report(uri, name, publicKey, opts.publicOut, format);
}

async function publicKeyAction(uriText: string): Promise<void> {
  const uri = parsePkcs11Uri(uriText);
  const ref: ObjectRef = { object: uri.object, id: uri.id };
  const publicKey = await withToken(uri, false, (token) =>
    token.withSessionSync((ctx) => readPublicKey(ctx, findKeyObject(ctx, ref, pkcs11js().CKO_PRIVATE_KEY, 'KEY_LOAD_FAILED'), ref, 'KEY_LOAD_FAILED')),
  );
  process.stdout.write(publicKey.export({ type: 'spki', format: 'pem' }).toString());
}

function readBack(ctx: SessionContext, name: KeyName): KeyObject {
  const ref: ObjectRef = { object: name.label, id: name.id };
  return readPublicKey(ctx, findKeyObject(ctx, ref, pkcs11js().CKO_PRIVATE_KEY, 'KEY_LOAD_FAILED'), ref, 'KEY_LOAD_FAILED');
}

function report(uri: Pkcs11Uri, name: KeyName, publicKey: KeyObject | null, publicOut: string | undefined, format: DaemonKeyFormat | undefined): void {
  const keyUri = `${describePkcs11Uri({ ...uri, object: name.label, id: name.id })}?module-path=${uri.modulePath}${uri.pinSource ? `&pin-source=${uri.pinSource}` : ''}`;
  process.stdout.write(`key uri     ${keyUri}\n`);
  if (publicKey === null) return;
  process.stdout.write(`key id      ${keyIdOf(publicKey)}\n`);
  for (const line of format?.describe(publicKey, keyUri).lines ?? []) process.stdout.write(line + '\n');
  if (publicOut === undefined) return;
  // Public halves are world-readable on purpose.
  writeNewFile(publicOut, publicKey.export({ type: 'spki', format: 'pem' }), 0o644);
  process.stdout.write(`public key  ${publicOut}\n`);
}
