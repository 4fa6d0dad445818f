// What `npm start` runs: each daemon's development arguments, the files it needs created on
// first run (development keys only; never production material), and the examples to print.
import fs from 'node:fs';
import path from 'node:path';
import { generateKeyFiles } from '../lib/admin/keygen-command.js';

export interface DevDaemon {
  name: string;
  /** How many `listening` lines the daemon logs. */
  listeners: number;
  portLabels: string[];
  prepare(devDir: string): void;
  args(devDir: string): string[];
  examples: string[];
}

function ensureKeys(devDir: string, type: 'rsa' | 'ecdsa'): void {
  const dir = path.join(devDir, 'keys');
  if (!fs.existsSync(path.join(dir, `${type}-key.pem`))) generateKeyFiles(type, dir, type);
}

const store = (devDir: string): string[] => ['--state-dir', path.join(devDir, 'state')];

export const DEV_DAEMONS: DevDaemon[] = [
  {
    name: 'sign-rsa',
    listeners: 1,
    portLabels: ['line'],
    prepare: (d) => ensureKeys(d, 'rsa'),
    args: (d) => ['--key', path.join(d, 'keys', 'rsa-key.pem'), ...store(d)],
    examples: ['echo mytoken | nc 127.0.0.1 9948            # RSA-PSS sign'],
  },
  {
    name: 'verify-rsa',
    listeners: 1,
    portLabels: ['line'],
    prepare: (d) => ensureKeys(d, 'rsa'),
    args: (d) => ['--keyring', path.join(d, 'keys', 'rsa-pub.pem'), ...store(d)],
    examples: [`echo mytoken | nc 127.0.0.1 9948 | sed -E "s/.*b'([0-9a-f]+)'\\)$/\\1/" | nc 127.0.0.1 9949   # RSA sign, then verify`],
  },
  {
    name: 'sign-ecdsa',
    listeners: 1,
    portLabels: ['line'],
    prepare: (d) => ensureKeys(d, 'ecdsa'),
    args: (d) => ['--key', path.join(d, 'keys', 'ecdsa-key.pem'), ...store(d)],
    examples: ['echo mytoken | nc 127.0.0.1 9848            # ECDSA P-384 sign'],
  },
  {
    name: 'verify-ecdsa',
    listeners: 1,
    portLabels: ['line'],
    prepare: (d) => ensureKeys(d, 'ecdsa'),
    args: (d) => ['--keyring', path.join(d, 'keys', 'ecdsa-pub.pem'), ...store(d)],
    examples: [`echo mytoken | nc 127.0.0.1 9848 | sed -E "s/.*b'([0-9a-f]+)'\\)$/\\1/" | nc 127.0.0.1 9849   # ECDSA sign, then verify`],
  },
];
