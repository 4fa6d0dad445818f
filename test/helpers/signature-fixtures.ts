// Shared fixtures for the sign/verify daemon tests: one key pair per family made once per test
// file, reply parsing, and independent verification with the openssl command-line tool.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { generateKeyFiles, type GeneratedKeyFiles } from '../../lib/admin/keygen-command.js';

export type Family = 'rsa' | 'ecdsa';

export const VALID: Record<Family, string> = { rsa: "('Validated as:', True)", ecdsa: 'Valid entry found.' };
export const INVALID: Record<Family, string> = { rsa: "('Validated as:', False)", ecdsa: 'No match for signature.' };

export function makeKeys(dir: string, family: Family, name: string = family, rsaBits = 2048): GeneratedKeyFiles {
  return generateKeyFiles(family, path.join(dir, 'keys'), name, rsaBits);
}

/** Splits a sign reply `(b'..', b'hex') (b'..', b'hex')` into its signatures, in order. */
export function signaturesOf(reply: string): string[] {
  // The message is matched as a whole Python bytes literal, so its text can never pass for a signature.
  return [...reply.matchAll(/\((?:b'(?:[^'\\]|\\.)*'|b"(?:[^"\\]|\\.)*"), b'([0-9a-f]+)'\)/g)].map((m) => m[1]!);
}

/** DER-encodes a raw r||s ECDSA signature, for openssl (which wants DER). Written here, not taken from lib. */
function rawToDer(raw: Buffer): Buffer {
  const half = raw.length / 2;
  const int = (b: Buffer): Buffer => {
    let i = 0;
    while (i < b.length - 1 && b[i] === 0) i++;
    let v = b.subarray(i);
    if (v[0]! & 0x80) v = Buffer.concat([Buffer.from([0]), v]);
    return Buffer.concat([Buffer.from([0x02, v.length]), v]);
  };
  const body = Buffer.concat([int(raw.subarray(0, half)), int(raw.subarray(half))]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}

/** Verifies with the openssl CLI: RSA-PSS SHA-256 salt 32, or ECDSA P-384 SHA-384. */
export function opensslVerifies(dir: string, family: Family, publicKeyFile: string, message: Buffer, signatureHex: string): boolean {
  const msgFile = path.join(dir, 'msg.bin');
  const sigFile = path.join(dir, 'sig.bin');
  fs.writeFileSync(msgFile, message);
  const sig = Buffer.from(signatureHex, 'hex');
  fs.writeFileSync(sigFile, family === 'rsa' ? sig : rawToDer(sig));
  const args =
    family === 'rsa'
      ? [
          'dgst',
          '-sha256',
          '-sigopt',
          'rsa_padding_mode:pss',
          '-sigopt',
          'rsa_pss_saltlen:32',
          '-sigopt',
          'rsa_mgf1_md:sha256',
          '-verify',
          publicKeyFile,
          '-signature',
          sigFile,
          msgFile,
        ]
      : ['dgst', '-sha384', '-verify', publicKeyFile, '-signature', sigFile, msgFile];
  try {
    return execFileSync('openssl', args, { encoding: 'utf8' }).includes('Verified OK');
  } catch {
    return false;
  }
}
