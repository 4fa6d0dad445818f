// `single` and `derived` with the secret held in a PKCS#11 token (`--secret pkcs11:...`): the token
// computes HMAC-SHA256 (CKM_SHA256_HMAC, asynchronous); the single secret or derived PRK never enters
// this process. derived keeps HKDF's PRK_v as `<label>-v<N>`, since Extract takes the master as data.
import crypto from 'node:crypto';
import type { Logger } from 'pino';
import { DaemonError } from '../../lib/errors.js';
import { listObjects } from '../../lib/keys/pkcs11-listing.js';
import { checkHmacKeyObject, tokenHmac } from '../../lib/keys/pkcs11-mac-key.js';
import type { ObjectRef } from '../../lib/keys/pkcs11-objects.js';
import { openToken } from '../../lib/keys/pkcs11-signing-key.js';
import type { Pkcs11Token } from '../../lib/keys/pkcs11-token.js';
import { describePkcs11Uri, parsePkcs11Uri, type Pkcs11Uri } from '../../lib/keys/pkcs11-uri.js';
import { chooseVersions, derivedInfo } from './derived-secrets.js';
import { hmacWithTransientKey, replacedError } from './memory-secrets.js';
import type { SecretSettings } from './secret-set.js';
import { KEY_BYTES, TAG_BYTES, UNVERSIONED, type SecretSet } from './secret-set.js';

/** Input of the start-up test MAC; its tag is also compared with the all-zero key's tag. */
const SELF_TEST_DATA = Buffer.from('signerd hmac start-up self-test', 'ascii');
/** HKDF-Expand's block counter for the first (and, for 32-byte keys, only) output block. */
const FIRST_BLOCK = Buffer.of(1);

type TokenMac = (data: Buffer) => Promise<Buffer>;

/** The set the settings name: file modes as before, or a token-held secret when --secret is a pkcs11: URI. */
export async function openHsmSecretSet(settings: SecretSettings & { hsmUri: string }, log: Logger): Promise<SecretSet> {
  switch (settings.mode) {
    case 'single':
      return openHsmSingle(settings.hsmUri, settings.readMsMax, log);
    case 'derived':
      return openHsmDerived(settings, settings.hsmUri, log);
    case 'mode16':
    case 'mode32':
      throw new DaemonError(
        'CONFIG_INVALID',
        `--secret with --mode ${settings.mode}: the seed's key tables stay in files (--secret-dir); an HSM holds single or derived secrets`,
      );
  }
}

async function openHsmSingle(uriText: string, callMsMax: number, log: Logger): Promise<SecretSet> {
  const uri = parsePkcs11Uri(uriText);
  const token = openToken(uri, { callMsMax, log });
  try {
    const mac = await openTokenMac(token, uri, { object: uri.object, id: uri.id }, log);
    return hsmSet('single', token, new Map([[UNVERSIONED, mac]]), { hsmKey: describePkcs11Uri(uri), backend: 'pkcs11' }, (m, data) => m(data));
  } catch (err) {
    await token.close();
    throw err;
  }
}

/**
 * derived: PRK_v = HKDF-Extract(salt, master_v) is held by the token as `<object>-v<N>`. Per message,
 * the token computes HKDF-Expand's single block HMAC(PRK_v, info ‖ 0x01) = the message key, and the
 * tag HMAC(key, data) is computed here; the key lives for that one call and is zeroed.
 */
async function openHsmDerived(settings: SecretSettings, uriText: string, log: Logger): Promise<SecretSet> {
  const uri = parsePkcs11Uri(uriText);
  if (uri.object === undefined || uri.id !== undefined) {
    throw new DaemonError(
      'CONFIG_INVALID',
      '--mode derived --secret: name the PRK objects by label prefix only (object=<prefix>, the token holds <prefix>-v1, <prefix>-v2, …; no id=)',
    );
  }
  const prefix = uri.object;
  // One token connection (one session pool, one login) serves every version.
  const token = openToken(uri, { callMsMax: settings.readMsMax, log });
  try {
    const present = presentHsmVersions(token, prefix);
    if (present.length === 0 && settings.keyVersion === null) {
      throw new DaemonError(
        'KEY_LOAD_FAILED',
        `derived mode: no secret key labelled ${prefix}-v<N> on ${describePkcs11Uri({ ...uri, object: undefined })} (signerd hsm list shows what it holds)`,
      );
    }
    const versions = chooseVersions(present, settings.keyVersion, settings.acceptVersions);
    const macs = new Map<number, TokenMac>();
    for (const version of versions)
      macs.set(version, await openTokenMac(token, { ...uri, object: `${prefix}-v${version}` }, { object: `${prefix}-v${version}` }, log));
    const summary = { hsmKey: describePkcs11Uri(uri), backend: 'pkcs11', keyVersion: versions[0], acceptedVersions: versions.slice(1) };
    return hsmSet('derived', token, macs, summary, async (prkMac, data, index, version) =>
      hmacWithTransientKey(await prkMac(Buffer.concat([derivedInfo(version, index), FIRST_BLOCK])), data),
    );
  } catch (err) {
    await token.close();
    throw err;
  }
}

/**
 * HMAC-SHA256 with one secret-key object of an open token: checks its type, proves it with a test
 * MAC, and refuses an all-zero secret (as file mode does). Every tag is checked by the token
 * (C_Verify) before release (lib/keys/pkcs11-mac-key.ts tokenHmac).
 */
async function openTokenMac(token: Pkcs11Token, uri: Pkcs11Uri, ref: ObjectRef, log: Logger): Promise<TokenMac> {
  const name = describePkcs11Uri(uri);
  checkHmacKeyObject(token, ref, name);
  const mac: TokenMac = tokenHmac(token, ref);
  const tag = await mac(SELF_TEST_DATA).catch((err: unknown) => {
    const e = err as DaemonError;
    throw new DaemonError('KEY_LOAD_FAILED', `${name}: start-up test MAC failed (${e.code ?? 'INTERNAL'}: ${e.message})`, { cause: err });
  });
  const zeroTag = crypto.createHmac('sha256', Buffer.alloc(KEY_BYTES)).update(SELF_TEST_DATA).digest();
  if (tag.length !== TAG_BYTES || crypto.timingSafeEqual(tag, zeroTag))
    throw new DaemonError('KEY_LOAD_FAILED', `${name}: the secret is all zero bytes; import a random secret`);
  log.info({ key: name }, 'HSM HMAC key opened');
  return mac;
}

/** Versions N with a secret key labelled `<prefix>-v<N>` on the token, ascending. */
function presentHsmVersions(token: Pkcs11Token, prefix: string): number[] {
  const pattern = /^(.*)-v([1-9][0-9]{0,8})$/;
  const versions = token
    .withSessionSync((ctx) => listObjects(ctx))
    .filter((o) => o.objectClass === 'secret-key')
    .map((o) => pattern.exec(o.label))
    .filter((m): m is RegExpExecArray => m !== null && m[1] === prefix)
    .map((m) => Number(m[2]));
  return [...new Set(versions)].sort((a, b) => a - b);
}

/**
 * A set over one token's keys (one per version). A replaced set finishes the calls it started; its
 * token connection closes once the last one returns.
 */
function hsmSet(
  mode: 'single' | 'derived',
  token: Pkcs11Token,
  macs: Map<number, TokenMac>,
  summary: Record<string, unknown>,
  tagWith: (mac: TokenMac, data: Buffer, index: number, version: number) => Promise<Buffer>,
): SecretSet {
  let pending = 0;
  let disposed = false;
  let closing = false;
  let closed: () => void = () => undefined;
  const allClosed = new Promise<void>((resolve) => (closed = resolve));
  const closeWhenIdle = (): void => {
    if (!disposed || pending > 0 || closing) return;
    closing = true;
    void token.close().then(closed, closed);
  };
  return {
    mode,
    versions: [...macs.keys()],
    summary,
    async mac(data, index, version) {
      if (disposed) throw replacedError();
      const mac = macs.get(version);
      if (!mac) throw new DaemonError('INTERNAL', `key version ${version} is not loaded`);
      pending++;
      try {
        return await tagWith(mac, data, index, version);
      } finally {
        pending--;
        closeWhenIdle();
      }
    },
    dispose() {
      disposed = true;
      closeWhenIdle();
    },
    close() {
      disposed = true;
      closeWhenIdle();
      return allClosed;
    },
  };
}
