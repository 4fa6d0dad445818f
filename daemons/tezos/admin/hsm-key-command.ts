// `signerd tezos hsm-key`: prints the pkh and public key of a tz1/tz2/tz3 key held in a PKCS#11 token
// (made with `signerd hsm generate|import --for tezos-tz1|tz2|tz3`), for its keys.json entry.
import { Command } from '@commander-js/extra-typings';
import { EXIT_CONFIG, isDaemonError } from '../../../lib/errors.js';
import { DEFAULT_LIMITS } from '../../../lib/limits.js';
import { pkcs11js } from '../../../lib/keys/pkcs11-module.js';
import { findKeyObject, readPublicKey, type ObjectRef } from '../../../lib/keys/pkcs11-objects.js';
import { openToken } from '../../../lib/keys/pkcs11-signing-key.js';
import { parsePkcs11Uri } from '../../../lib/keys/pkcs11-uri.js';
import { tezosPublicKey } from '../keys/hsm-tezos-key.js';
import { encodePublicKey, publicKeyHash } from '../keys/key-encoding.js';

export function hsmKeyCommand(): Command {
  return new Command('hsm-key')
    .description('print the pkh and public key of a tz1/tz2/tz3 key in a PKCS#11 token, and its keys.json entry')
    .requiredOption('--key <uri>', 'pkcs11:token=<label>;object=<label>?module-path=/path/module.so&pin-source=file:/path/pin')
    .option('--json', 'print one JSON object')
    .action(async (opts: { key: string; json?: boolean }) => {
      try {
        const uri = parsePkcs11Uri(opts.key);
        const ref: ObjectRef = { object: uri.object, id: uri.id };
        const token = openToken(uri, { callMsMax: DEFAULT_LIMITS.backendCallMsMax, sessionsMax: 1 });
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
        const entry = JSON.stringify({ [out.pkh]: { pkcs11_uri: opts.key } });
        process.stdout.write(opts.json ? JSON.stringify(out) + '\n' : `pkh         ${out.pkh}\npublic key  ${out.public_key}\nkeys.json   ${entry}\n`);
      } catch (err) {
        process.stderr.write(`signerd tezos hsm-key: ${isDaemonError(err) ? `${err.code}: ${err.message}` : (err as Error).message}\n`);
        process.exitCode = EXIT_CONFIG;
      }
    });
}
