// `signerd keygen`: creates a key pair for the sign/verify daemons, private half mode 0600,
// public half 0644, never overwriting an existing file.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Command, Option } from '@commander-js/extra-typings';
import { DaemonError, EXIT_CONFIG, failureLine } from '../errors.js';
import { keyIdOf } from '../keys/key-file.js';
import { parseCount } from '../config/numbers.js';
import { RSA_BITS_MAX, RSA_BITS_MIN } from '../crypto/rsa-key-size.js';
import { makeDirectory } from '../config/make-directory.js';
import { writeNewFile } from '../config/new-file.js';

export interface GeneratedKeyFiles {
  privateKeyFile: string;
  publicKeyFile: string;
  keyId: string;
}

export function generateKeyFiles(type: 'rsa' | 'ecdsa', outDir: string, name: string, rsaBits = 4096): GeneratedKeyFiles {
  const pair =
    type === 'rsa'
      ? crypto.generateKeyPairSync('rsa', { modulusLength: rsaBits, publicExponent: 0x10001 })
      : crypto.generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  makeDirectory(outDir, 0o700);
  const privateKeyFile = path.join(outDir, `${name}-key.pem`);
  const publicKeyFile = path.join(outDir, `${name}-pub.pem`);
  for (const file of [privateKeyFile, publicKeyFile]) {
    if (fs.existsSync(file)) throw new DaemonError('CONFIG_INVALID', `${file} exists; refusing to overwrite a key`);
  }
  // Checked above so that neither half is written when one exists; writeNewFile still refuses a file
  // that appeared meanwhile.
  writeNewFile(privateKeyFile, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }), 0o600);
  writeNewFile(publicKeyFile, pair.publicKey.export({ type: 'spki', format: 'pem' }), 0o644);
  return { privateKeyFile, publicKeyFile, keyId: keyIdOf(pair.publicKey) };
}

export function keygenCommand(): Command {
  const cmd = new Command('keygen')
    .description('create a key pair for sign-rsa (RSA-4096) or sign-ecdsa (P-384): <name>-key.pem (0600) and <name>-pub.pem')
    .addOption(new Option('--type <type>', 'key type').choices(['rsa', 'ecdsa']).makeOptionMandatory())
    .option('--out <dir>', 'directory to write into', '.')
    .option('--name <name>', 'file name stem (default: the type)')
    .option('--bits <bits>', 'RSA modulus size', parseCount('--bits', RSA_BITS_MIN, RSA_BITS_MAX), 4096)
    .action((opts: { type: 'rsa' | 'ecdsa'; out: string; name?: string; bits: number }) => {
      try {
        if (opts.type === 'ecdsa' && cmd.getOptionValueSource('bits') === 'cli')
          throw new DaemonError('CONFIG_INVALID', '--bits is for RSA keys; an ecdsa key is P-384, the curve sign-ecdsa uses');
        // A stem, not a path: `--name ../x` would write outside --out.
        if (opts.name !== undefined && !/^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/.test(opts.name))
          throw new DaemonError('CONFIG_INVALID', '--name is a file name stem: letters, digits, ".", "_" and "-", no "/" (the directory is --out)');
        const made = generateKeyFiles(opts.type, opts.out, opts.name ?? opts.type, opts.bits);
        process.stdout.write(`private key ${made.privateKeyFile}\npublic key  ${made.publicKeyFile}\nkey id      ${made.keyId}\n`);
      } catch (err) {
        process.stderr.write(failureLine('signerd keygen', err));
        process.exitCode = EXIT_CONFIG;
      }
    });
  return cmd;
}
