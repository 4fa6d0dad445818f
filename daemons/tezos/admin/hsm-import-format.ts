// The Tezos key format for `signerd hsm generate|import --for tezos-tz1|tz2|tz3`: octez secret keys
// (edsk/spsk/p2sk, encrypted with a passphrase file) read in memory, and pkh lines for the operator.
import type { KeyObject } from 'node:crypto';
import { DaemonError } from '../../../lib/errors.js';
import type { DaemonKeyFormat, ImportOptions } from '../../../lib/admin/hsm-command.js';
import type { TezosCurve } from '../keys/curve-signature.js';
import type { HsmCurve } from '../keys/hsm-tezos-key.js';
import { CURVE_NAMES } from '../keys/key-encoding.js';
import { readPassphraseFile } from '../../../lib/keys/key-file.js';
import { formName, secretKeyForm, secretKeyText } from '../keys/secret-key-text.js';
import { refuseBls, tezosKeyNames, tezosPrivateKey } from '../keys/tezos-key-pem.js';

/** The curve of each `--for tezos-*` key. */
const CURVE_OF_FOR: Readonly<Record<string, HsmCurve>> = { 'tezos-tz1': 'ed25519', 'tezos-tz2': 'secp256k1', 'tezos-tz3': 'p256' };

export const TEZOS_KEY_FORMAT: DaemonKeyFormat = {
  daemons: Object.keys(CURVE_OF_FOR),
  readPrivateKey(material, opts) {
    const key = tezosSecret(material, opts, CURVE_OF_FOR[opts.for]!);
    return { privateKey: key.privateKey, identity: key.pkh };
  },
  describe(publicKey: KeyObject, keyUri: string) {
    const tezos = tezosKeyNames(publicKey);
    return {
      identity: tezos.pkh,
      lines: [`pkh         ${tezos.pkh}`, `tezos pk    ${tezos.publicKey}`, `keys.json   ${JSON.stringify({ [tezos.pkh]: { pkcs11_uri: keyUri } })}`],
    };
  },
};

/** An octez secret key file as a private key for `--for`: refuses tz4, another curve, a stray or missing passphrase. */
function tezosSecret(material: Buffer, opts: ImportOptions, curve: TezosCurve): { privateKey: KeyObject; pkh: string } {
  const text = secretKeyText(material);
  const form = secretKeyForm(text);
  if (form === null)
    throw new DaemonError('KEY_LOAD_FAILED', `private key ${opts.from}: neither a PEM private key nor a Tezos secret key (edsk/spsk/p2sk, edesk/spesk/p2esk)`);
  refuseBls(form.curve);
  if (form.curve !== curve) {
    const held = CURVE_NAMES[form.curve];
    const want = CURVE_NAMES[curve];
    throw new DaemonError(
      'CONFIG_INVALID',
      `--for ${opts.for} takes a ${want.pkh} key (${want.sk}/${want.esk}), but ${opts.from} holds a ${held.pkh} key (${formName(form)}): use --for tezos-${held.pkh}`,
    );
  }
  if (!form.encrypted && opts.passphraseFile !== undefined)
    throw new DaemonError('CONFIG_INVALID', `${opts.from} holds an unencrypted ${formName(form)} key; drop --passphrase-file`);
  const passphrase = form.encrypted && opts.passphraseFile !== undefined ? readPassphraseFile(opts.passphraseFile) : undefined;
  try {
    return tezosPrivateKey(text, passphrase);
  } finally {
    passphrase?.fill(0);
  }
}
