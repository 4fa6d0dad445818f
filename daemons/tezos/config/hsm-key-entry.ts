// keys.json entries for HSM keys: signerd's `pkcs11_uri` and the seed's `pkcs11_hsm` signer (label in
// signer_args, module and slot from hsm_lib / hsm_slot), read at parse time and opened at start-up.
import path from 'node:path';
import { DaemonError } from '../../../lib/errors.js';
import type { HsmKeyOptions } from '../../../lib/keys/pkcs11-signing-key.js';
import { isPkcs11Uri, parsePkcs11Uri } from '../../../lib/keys/pkcs11-uri.js';
import type { TezosCurve } from '../keys/curve-signature.js';
import { checkHsmCurve, openHsmTezosKey, type HsmTezosKey } from '../keys/hsm-tezos-key.js';
import { curveOfPublicKeyHash, decodePublicKey, publicKeyHashOf } from '../keys/key-encoding.js';
import { invalid, shown } from './json-values.js';

/** An HSM key as keys.json names it; the key itself is opened by `openHsmEntry`. */
export interface HsmKeyEntry {
  where: string;
  uri: string;
  curve: TezosCurve;
  /** The pkh the entry claims (from its name, `pkh` or `public_key`); the token's key must have it. */
  pkh: string;
}

/** The top-level seed fields a `pkcs11_hsm` entry draws on (plus signerd's hsm_token / hsm_pin_file). */
export interface HsmDefaults {
  file: string;
  top: Record<string, unknown>;
}

export const HSM_TOP_FIELDS = ['hsm_lib', 'hsm_slot', 'hsm_token', 'hsm_pin_file', 'hsm_username'] as const;

/**
 * Reads an HSM entry: `uriField` (signerd's pkcs11_uri) or, for the seed's signer, the label from
 * `args` mapped onto hsm_lib / hsm_slot|hsm_token / hsm_pin_file. `claims` name the key (pkh or public key).
 */
export function hsmEntryOf(where: string, uriField: unknown, args: string[], claims: string[], defaults: HsmDefaults): HsmKeyEntry {
  const uri = uriField !== undefined ? givenUri(uriField, where) : seedUri(args, where, defaults);
  const pkh = claimedPkh(claims, where);
  const curve = curveOfPublicKeyHash(pkh)!;
  checkHsmCurve(curve, where);
  return { where, uri, curve, pkh };
}

/** Opens the entry's key and checks it is the key the entry claims. */
export async function openHsmEntry(entry: HsmKeyEntry, opts: HsmKeyOptions): Promise<HsmTezosKey> {
  let key: HsmTezosKey;
  try {
    key = await openHsmTezosKey(entry.uri, entry.curve, opts);
  } catch (err) {
    if (!(err instanceof DaemonError)) throw err;
    throw new DaemonError(err.code, `${entry.where}: ${err.message}`, { cause: err });
  }
  if (key.pkh !== entry.pkh) {
    await key.close();
    throw new DaemonError('CONFIG_INVALID', `${entry.where}: the token's key is ${key.pkh} (${key.publicKey}), not ${entry.pkh}`);
  }
  return key;
}

function givenUri(value: unknown, where: string): string {
  if (typeof value !== 'string' || !isPkcs11Uri(value)) throw invalid(`${where}.pkcs11_uri`, 'expected a pkcs11: URI');
  parsePkcs11Uri(value); // fails early (CONFIG_INVALID) on a bad URI or a pin-value=
  return value;
}

/** The seed's `"<pk>:pkcs11_hsm:<label>"` / `signer_args: ["<label>"]` as a pkcs11: URI. */
function seedUri(args: string[], where: string, { file, top }: HsmDefaults): string {
  const label = args[0];
  const lib = top['hsm_lib'];
  const pinFile = top['hsm_pin_file'];
  if (label === undefined || label === '' || typeof lib !== 'string' || typeof pinFile !== 'string') {
    throw invalid(
      where,
      'signer "pkcs11_hsm" with a label is not supported without hsm_lib and hsm_pin_file at the top level (or give pkcs11_uri; see docs/tezos.md)',
    );
  }
  if (!path.isAbsolute(lib)) throw invalid(`${file}: hsm_lib`, 'expected the absolute path of the PKCS#11 module');
  const slot = top['hsm_slot'];
  const token = top['hsm_token'];
  let tokenPart: string;
  if (typeof token === 'string' && token !== '') tokenPart = `token=${encodeURIComponent(token)}`;
  else if ((typeof slot === 'number' && Number.isInteger(slot) && slot >= 0) || (typeof slot === 'string' && /^[0-9]{1,20}$/.test(slot)))
    tokenPart = `slot-id=${slot}`;
  else throw invalid(file, 'pkcs11_hsm keys need hsm_slot (a slot number) or hsm_token (a token label)');
  const pin = path.resolve(path.dirname(file), pinFile);
  return `pkcs11:${tokenPart};object=${encodeURIComponent(label)}?module-path=${encodeURIComponent(lib)}&pin-source=${encodeURIComponent(pin)}`;
}

function claimedPkh(claims: string[], where: string): string {
  let pkh: string | null = null;
  for (const claim of claims) {
    const hash = curveOfPublicKeyHash(claim) !== null ? claim : decodePublicKey(claim) !== null ? publicKeyHashOf(claim) : null;
    if (hash === null) throw invalid(where, `"${shown(claim)}" is not a key hash or public key`);
    if (pkh !== null && hash !== pkh) throw invalid(where, `${shown(claim)} and ${pkh} name different keys`);
    pkh = hash;
  }
  if (pkh === null) throw invalid(where, 'an HSM key must be named by its tz1/tz2/tz3 key hash or public key (entry name, pkh or public_key)');
  return pkh;
}
