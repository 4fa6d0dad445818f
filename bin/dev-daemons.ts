// What `npm start` runs: each daemon's development arguments, the files it needs created on
// first run (development keys only; never production material), and the examples to print.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { generateKeyFiles } from '../lib/admin/keygen-command.js';
import { generateTezosKey } from '../daemons/tezos/keys/tezos-key.js';
import { makeDirectory } from '../lib/config/make-directory.js';
import { writeNewFile } from '../lib/config/new-file.js';

export interface DevDaemon {
  name: string;
  /** How many `listening` lines the daemon logs. */
  listeners: number;
  portLabels: string[];
  prepare(devDir: string): void;
  args(devDir: string): string[];
  examples(devDir: string): string[];
}

function ensureKeys(devDir: string, type: 'rsa' | 'ecdsa'): void {
  const dir = path.join(devDir, 'keys');
  if (!fs.existsSync(path.join(dir, `${type}-key.pem`))) generateKeyFiles(type, dir, type);
}

const store = (devDir: string): string[] => ['--state-dir', path.join(devDir, 'state')];

/** Writes a new private file (mode 0600) once; an existing one is kept, so restarts reuse keys. */
function ensureFile(file: string, make: () => string | Buffer): void {
  if (fs.existsSync(file)) return;
  makeDirectory(path.dirname(file), 0o700);
  writeNewFile(file, make(), 0o600);
}

/** A tz1 key with a baking policy; keys.json points at the secret key file. */
function ensureTezos(devDir: string): void {
  const dir = path.join(devDir, 'tezos');
  if (fs.existsSync(path.join(dir, 'keys.json'))) return;
  const { secretKey, key } = generateTezosKey('ed25519');
  ensureFile(path.join(dir, 'baker.key'), () => secretKey + '\n');
  ensureFile(
    path.join(dir, 'keys.json'),
    () => JSON.stringify({ keys: { [key.pkh]: { secret_key_file: 'baker.key', policy: { baking: 1 } } } }, null, 2) + '\n',
  );
}

function tezosPkh(devDir: string): string {
  const config = JSON.parse(fs.readFileSync(path.join(devDir, 'tezos', 'keys.json'), 'utf8')) as { keys: Record<string, unknown> };
  return Object.keys(config.keys)[0]!;
}

/** A firmware key root with one distro, `dev`, holding a swupdate RSA key and a Mender key. */
function ensureFirmwareKeys(devDir: string): void {
  const root = path.join(devDir, 'firmware-keys', 'dev');
  const rsa = (): string => crypto.generateKeyPairSync('rsa', { modulusLength: 3072 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  ensureFile(path.join(root, 'swupdate', 'rsa-private.key'), rsa);
  ensureFile(path.join(root, 'mender', 'private.key'), rsa);
}

export const DEV_DAEMONS: DevDaemon[] = [
  {
    name: 'sign-rsa',
    listeners: 1,
    portLabels: ['line'],
    prepare: (d) => ensureKeys(d, 'rsa'),
    args: (d) => ['--key', path.join(d, 'keys', 'rsa-key.pem'), ...store(d)],
    examples: () => ['echo mytoken | nc 127.0.0.1 9948            # RSA-PSS sign'],
  },
  {
    name: 'verify-rsa',
    listeners: 1,
    portLabels: ['line'],
    prepare: (d) => ensureKeys(d, 'rsa'),
    args: (d) => ['--keyring', path.join(d, 'keys', 'rsa-pub.pem'), ...store(d)],
    examples: () => [`echo mytoken | nc 127.0.0.1 9948 | sed -E "s/.*b'([0-9a-f]+)'\\)$/\\1/" | nc 127.0.0.1 9949   # RSA sign, then verify`],
  },
  {
    name: 'sign-ecdsa',
    listeners: 1,
    portLabels: ['line'],
    prepare: (d) => ensureKeys(d, 'ecdsa'),
    args: (d) => ['--key', path.join(d, 'keys', 'ecdsa-key.pem'), ...store(d)],
    examples: () => ['echo mytoken | nc 127.0.0.1 9848            # ECDSA P-384 sign'],
  },
  {
    name: 'verify-ecdsa',
    listeners: 1,
    portLabels: ['line'],
    prepare: (d) => ensureKeys(d, 'ecdsa'),
    args: (d) => ['--keyring', path.join(d, 'keys', 'ecdsa-pub.pem'), ...store(d)],
    examples: () => [`echo mytoken | nc 127.0.0.1 9848 | sed -E "s/.*b'([0-9a-f]+)'\\)$/\\1/" | nc 127.0.0.1 9849   # ECDSA sign, then verify`],
  },
  {
    name: 'hmac',
    listeners: 3,
    portLabels: ['mac', 'verify', 'http'],
    prepare: (d) => ensureFile(path.join(d, 'hmac', 'secret'), () => crypto.randomBytes(32)),
    args: (d) => ['--secret-dir', path.join(d, 'hmac'), '--http-port', '8080'],
    examples: () => [
      `echo 'hello world' | nc 127.0.0.1 9850                 # HMAC-SHA256 tag`,
      `echo "$(echo 'hello world' | nc 127.0.0.1 9850) hello world" | nc 127.0.0.1 9851   # verify: Valid.`,
      `curl -s --data-binary 'hello world' http://127.0.0.1:8080/hmac | od -An -tx1   # cryptoserver's HTTP API`,
    ],
  },
  {
    name: 'tezos',
    listeners: 2,
    portLabels: ['line', 'http'],
    prepare: ensureTezos,
    // Development: the store is made on the first start (a real first start says so the same way).
    args: (d) => ['--keys', path.join(d, 'tezos', 'keys.json'), '--init-watermarks', ...store(d)],
    examples: (d) => [
      `echo "pubkey ${tezosPkh(d)}" | nc 127.0.0.1 9732`,
      `curl -s http://127.0.0.1:6732/keys/${tezosPkh(d)}          # octez remote-signer API`,
    ],
  },
  {
    name: 'firmware',
    listeners: 2,
    portLabels: ['line', 'http'],
    prepare: ensureFirmwareKeys,
    args: (d) => ['--key-root', path.join(d, 'firmware-keys')],
    examples: () => [
      `echo "SWUPDATE-DIGEST dev RSA $(printf 'sw-description' | sha256sum | cut -d' ' -f1)" | nc 127.0.0.1 9998   # sw-description.sig`,
      `curl -s -F distro=dev -F method=RSA -F sw-description=@README.md http://127.0.0.1:9999/sign/swupdate | od -An -tx1 | head -2`,
    ],
  },
];
