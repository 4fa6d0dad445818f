// The text forms of a Tezos secret key (octez's b58 edsk/spsk/p2sk/BLsk, the 64-byte edsk, encrypted
// edesk/spesk/p2esk/BLesk): told apart by prefix without keeping any secret, and decoded to the 32
// secret bytes (an Ed25519 seed, an ECDSA or BLS scalar), decrypting with a passphrase. Buffers are zeroed.
import { DaemonError } from '../../../lib/errors.js';
import { b58checkDecode, type PrefixName } from './base58check.js';
import { rawSigner, TEZOS_CURVES, type TezosCurve } from './curve-signature.js';
import { CURVE_NAMES } from './key-encoding.js';
import { decryptSecretKey } from './secret-key-encryption.js';

/** What a secret key text is, told from its prefix alone. */
export interface SecretKeyForm {
  curve: TezosCurve;
  /** edsk, edsk64 (the 64-byte edsk), spsk, p2sk, BLsk, edesk, spesk, p2esk, BLesk */
  prefix: PrefixName;
  encrypted: boolean;
}

/** In the order they are tried: the 64-byte edsk first, then each curve's plain and encrypted form. */
const FORMS: readonly SecretKeyForm[] = [
  { curve: 'ed25519', prefix: 'edsk64', encrypted: false },
  ...TEZOS_CURVES.flatMap((curve) => [
    { curve, prefix: CURVE_NAMES[curve].sk, encrypted: false },
    { curve, prefix: CURVE_NAMES[curve].esk, encrypted: true },
  ]),
];

/** The b58 prefixes of every secret key form, for spotting a secret in a file without decoding it. */
export const SECRET_KEY_PREFIXES: readonly string[] = TEZOS_CURVES.flatMap((curve) => [CURVE_NAMES[curve].sk, CURVE_NAMES[curve].esk]);

/** The text of a secret key file: one b58 key, optionally octez's `unencrypted:` / `encrypted:` tag. */
export function secretKeyText(file: Buffer): string {
  return withoutOctezTag(file.toString('utf8').trim());
}

/** A key without the `unencrypted:` / `encrypted:` tag octez writes before it in its secret_keys file. */
export function withoutOctezTag(text: string): string {
  return text.replace(/^(unencrypted|encrypted):/, '');
}

/** The form of a secret key text, or null if it is not one (checksum and length checked). */
export function secretKeyForm(text: string): SecretKeyForm | null {
  for (const form of FORMS) {
    const bytes = b58checkDecode(form.prefix, text);
    if (bytes === null) continue;
    bytes.fill(0);
    return form;
  }
  return null;
}

/** How a form is named to an operator (the 64-byte edsk is still an edsk). */
export function formName(form: SecretKeyForm): string {
  return form.prefix === 'edsk64' ? 'edsk' : form.prefix;
}

/**
 * The 32 secret bytes of a plain or encrypted secret key text of `form`; the caller zeroes them.
 * `passphraseSource` names where a missing passphrase comes from ("a passphrase file", "--passphrase-file").
 */
export function secretKeyBytes(text: string, form: SecretKeyForm, passphrase: Buffer | undefined, passphraseSource: string): Buffer {
  const decoded = b58checkDecode(form.prefix, text);
  if (decoded === null) throw new DaemonError('KEY_LOAD_FAILED', 'not a Tezos secret key');
  if (form.prefix === 'edsk64') {
    // seed ‖ public key: the seed alone determines the key; the public half must be the seed's.
    const seed = Buffer.from(decoded.subarray(0, 32));
    const claimed = Buffer.from(decoded.subarray(32));
    decoded.fill(0);
    if (!rawSigner('ed25519', seed).publicKey.equals(claimed)) {
      seed.fill(0);
      throw new DaemonError('KEY_LOAD_FAILED', 'the 64-byte edsk key holds a public key that does not match its seed');
    }
    return seed;
  }
  if (!form.encrypted) return decoded;
  if (passphrase === undefined) throw new DaemonError('KEY_LOAD_FAILED', `an encrypted ${form.prefix} key needs ${passphraseSource}`);
  const plain = decryptSecretKey(decoded, passphrase);
  decoded.fill(0);
  if (plain === null || plain.length !== 32) {
    plain?.fill(0);
    throw new DaemonError('KEY_LOAD_FAILED', `the ${form.prefix} key does not decrypt with this passphrase`);
  }
  return plain;
}
