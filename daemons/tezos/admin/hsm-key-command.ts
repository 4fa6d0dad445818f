// `signerd tezos hsm-key`: prints the pkh and public key of a tz1/tz2/tz3 key held in a PKCS#11 token
// (made with `signerd hsm generate|import --for tezos-tz1|tz2|tz3`), for its keys.json entry.
import { Command } from '@commander-js/extra-typings';
import { DEFAULT_LIMITS } from '../../../lib/limits.js';
import { pkcs11js } from '../../../lib/keys/pkcs11-module.js';
import { findKeyObject, readPublicKey, type ObjectRef } from '../../../lib/keys/pkcs11-objects.js';
import { openToken } from '../../../lib/keys/pkcs11-signing-key.js';
import { parsePkcs11Uri, type Pkcs11Uri } from '../../../lib/keys/pkcs11-uri.js';
import { tezosPublicKey } from '../keys/hsm-tezos-key.js';
import { encodePublicKey, publicKeyHash } from '../keys/key-encoding.js';
import { runAdminTask } from './admin-task.js';

interface HsmKeySettings {
  /** As given, for the printed keys.json entry. */
  keyUri: string;
  uri: Pkcs11Uri;
  json: boolean;
}

export function hsmKeyCommand() {
  const cmd = new Command('hsm-key')
    .description('print the pkh and public key of a tz1/tz2/tz3 key in a PKCS#11 token, and its keys.json entry')
    .requiredOption('--key <uri>', 'pkcs11:token=<label>;object=<label>?module-path=/path/module.so&pin-source=file:/path/pin')
    .option('--json', 'print one JSON object');
  cmd.action((opts) => runAdminTask('signerd tezos hsm-key', () => showHsmKey(hsmKeySettings(opts))));
  return cmd;
}

function hsmKeySettings(opts: ReturnType<ReturnType<typeof hsmKeyCommand>['opts']>): HsmKeySettings {
  return { keyUri: opts.key, uri: parsePkcs11Uri(opts.key), json: opts.json === true };
}

async function showHsmKey(settings: HsmKeySettings): Promise<void> {
  const ref: ObjectRef = { object: settings.uri.object, id: settings.uri.id };
  const token = openToken(settings.uri, { callMsMax: DEFAULT_LIMITS.backendCallMsMax, sessionsMax: 1 });
  let publicKey;
  try {
    publicKey = token.withSessionSync((ctx) =>
      readPublicKey(ctx, findKeyObject(ctx, ref, pkcs11js().CKO_PRIVATE_KEY, 'KEY_LOAD_FAILED'), ref, 'KEY_LOAD_FAILED'),
    );
  } finally {
    await token.close();
  }
  const { curve, bytes } = tezosPublicKey(publicKey);
  const out = { pkh: publicKeyHash(curve, bytes), public_key: encodePublicKey(curve, bytes), curve };
  const entry = JSON.stringify({ [out.pkh]: { pkcs11_uri: settings.keyUri } });
  process.stdout.write(settings.json ? JSON.stringify(out) + '\n' : `pkh         ${out.pkh}\npublic key  ${out.public_key}\nkeys.json   ${entry}\n`);
}
