// `signerd tezos keygen`: creates a tz1/tz2/tz3/tz4 key, writes its b58 secret key to a new
// file (mode 0600, never overwritten) and prints the pkh and public key for keys.json.
import { Command, Option } from '@commander-js/extra-typings';
import { TEZOS_CURVES, type TezosCurve } from '../keys/curve-signature.js';
import { runAdminTask } from './admin-task.js';
import { writeNewFile } from '../../../lib/config/new-file.js';

interface KeygenSettings {
  curve: TezosCurve;
  /** The new secret key file. */
  out: string;
  json: boolean;
}

export function keygenCommand() {
  const cmd = new Command('keygen')
    .description('create a Tezos key: the secret key (edsk…/spsk…/p2sk…/BLsk…) goes to --out (0600); pkh and public key are printed')
    .addOption(new Option('--curve <curve>', 'tz1 ed25519, tz2 secp256k1, tz3 p256, tz4 bls12-381').choices(TEZOS_CURVES).default('ed25519' as const))
    .requiredOption('--out <file>', 'new file for the secret key (refuses to overwrite)')
    .option('--json', 'print one JSON object');
  cmd.action((opts) => runAdminTask('signerd tezos keygen', () => keygen(keygenSettings(opts))));
  return cmd;
}

function keygenSettings(opts: ReturnType<ReturnType<typeof keygenCommand>['opts']>): KeygenSettings {
  return { curve: opts.curve, out: opts.out, json: opts.json === true };
}

async function keygen(settings: KeygenSettings): Promise<void> {
  // Loaded when the command runs: the other tezos commands start without the curve libraries.
  const { generateTezosKey } = await import('../keys/tezos-key.js');
  const { secretKey, key } = generateTezosKey(settings.curve);
  writeNewFile(settings.out, secretKey + '\n', 0o600);
  const out = { pkh: key.pkh, public_key: key.publicKey, curve: key.curve, secret_key_file: settings.out };
  process.stdout.write(
    settings.json ? JSON.stringify(out) + '\n' : `pkh         ${out.pkh}\npublic key  ${out.public_key}\nsecret key  ${out.secret_key_file}\n`,
  );
}
