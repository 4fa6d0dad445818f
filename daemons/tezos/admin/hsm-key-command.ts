// `signerd tezos hsm-key`: prints the pkh and public key of a tz1/tz2/tz3 key held in a PKCS#11 token
// (made with `signerd hsm generate|import --for tezos-tz1|tz2|tz3`), for its keys.json entry.
import { Command } from '@commander-js/extra-typings';
import { parsePkcs11Uri, type Pkcs11Uri } from '../../../lib/keys/pkcs11-uri.js';
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
  // Loaded when the command runs: the other tezos commands start without PKCS#11 and the curve libraries.
  const [{ readHsmTezosPublicKey }, { encodePublicKey, publicKeyHash }] = await Promise.all([
    import('../keys/hsm-tezos-key.js'),
    import('../keys/key-encoding.js'),
  ]);
  const { curve, bytes } = await readHsmTezosPublicKey(settings.uri);
  const out = { pkh: publicKeyHash(curve, bytes), public_key: encodePublicKey(curve, bytes), curve };
  const entry = JSON.stringify({ [out.pkh]: { pkcs11_uri: settings.keyUri } });
  process.stdout.write(settings.json ? JSON.stringify(out) + '\n' : `pkh         ${out.pkh}\npublic key  ${out.public_key}\nkeys.json   ${entry}\n`);
}
