// `signerd tezos keygen`: creates a tz1/tz2/tz3/tz4 key, writes its b58 secret key to a new
// file (mode 0600, never overwritten) and prints the pkh and public key for keys.json.
import fs from 'node:fs';
import { Command, Option } from '@commander-js/extra-typings';
import { EXIT_CONFIG, isDaemonError } from '../../../lib/errors.js';
import { generateTezosKey, type TezosCurve } from '../keys/tezos-key.js';

const CURVES: readonly TezosCurve[] = ['ed25519', 'secp256k1', 'p256', 'bls12-381'];

export function keygenCommand(): Command {
  return new Command('keygen')
    .description('create a Tezos key: the secret key (edsk…/spsk…/p2sk…/BLsk…) goes to --out (0600); pkh and public key are printed')
    .addOption(new Option('--curve <curve>', 'tz1 ed25519, tz2 secp256k1, tz3 p256, tz4 bls12-381').choices([...CURVES]).default('ed25519'))
    .requiredOption('--out <file>', 'new file for the secret key (refuses to overwrite)')
    .option('--json', 'print one JSON object')
    .action((opts: { curve: TezosCurve; out: string; json?: boolean }) => {
      try {
        const { secretKey, key } = generateTezosKey(opts.curve);
        // 'wx' fails if the file exists; the mode applies at creation.
        fs.writeFileSync(opts.out, secretKey + '\n', { mode: 0o600, flag: 'wx' });
        const out = { pkh: key.pkh, public_key: key.publicKey, curve: key.curve, secret_key_file: opts.out };
        process.stdout.write(
          opts.json ? JSON.stringify(out) + '\n' : `pkh         ${out.pkh}\npublic key  ${out.public_key}\nsecret key  ${out.secret_key_file}\n`,
        );
      } catch (err) {
        process.stderr.write(`signerd tezos keygen: ${isDaemonError(err) ? `${err.code}: ${err.message}` : (err as Error).message}\n`);
        process.exitCode = EXIT_CONFIG;
      }
    });
}
