// Bench for sign-rsa, verify-rsa, sign-ecdsa, verify-ecdsa on the embedded store: daemon
// throughput over 16 keep-open loopback connections beside node:crypto's single-thread rate,
// the two measured in alternating slices over the same seconds.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateKeyFiles } from '../lib/admin/keygen-command.js';
import { startDaemon } from '../test/helpers/daemon.js';
import { loadBesidePrimitive, type BenchRow } from './harness.js';

const DURATION_MS = Number(process.env['BENCH_MS'] ?? 4_000);
const CONNECTIONS = 16;

export async function bench(): Promise<BenchRow[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signerd-bench-'));
  const rows: BenchRow[] = [];
  for (const family of ['ecdsa', 'rsa'] as const) {
    const keys = generateKeyFiles(family, path.join(dir, 'keys'), family);
    const privateKey = crypto.createPrivateKey(fs.readFileSync(keys.privateKeyFile));
    const publicKey = crypto.createPublicKey(privateKey);
    const message = Buffer.from('bench message 0123456789abcdef');
    const opts = family === 'rsa' ? { key: privateKey, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } : { key: privateKey, dsaEncoding: 'ieee-p1363' as const };
    const hash = family === 'rsa' ? 'sha256' : 'sha384';
    const signature = crypto.sign(hash, message, opts);
    const rawSign = (): void => void crypto.sign(hash, message, opts);
    const rawVerify = (): void => void crypto.verify(hash, message, { ...opts, key: publicKey }, signature);

    const common = ['--port', '0', '--keep-open', '--state-dir', path.join(dir, 'state')];
    const signer = await startDaemon([`sign-${family}`, '--key', keys.privateKeyFile, ...common], { dropLogsAfterStart: true });
    const signed: string[] = [];
    const sign = await loadBesidePrimitive({
      port: signer.port,
      connections: CONNECTIONS,
      durationMs: DURATION_MS,
      line: (conn, seq) => `message ${conn} ${seq}`,
      check: (reply) => {
        const sig = /b'([0-9a-f]+)'\)$/.exec(reply)?.[1];
        if (sig && signed.length < 5000) signed.push(sig);
        return sig !== undefined;
      },
    }, rawSign);
    await signer.stop();
    rows.push({ daemon: `sign-${family}`, operation: 'sign 30 B', ...sign, primitive: `${family} sign (node:crypto, 1 thread)` });

    const verifier = await startDaemon([`verify-${family}`, '--keyring', keys.publicKeyFile, ...common], { dropLogsAfterStart: true });
    const valid = family === 'rsa' ? "('Validated as:', True)" : 'Valid entry found.';
    const verify = await loadBesidePrimitive({
      port: verifier.port,
      connections: CONNECTIONS,
      durationMs: DURATION_MS,
      line: (conn, seq) => signed[(conn * 7919 + seq) % signed.length]!,
      check: (reply) => reply === valid,
    }, rawVerify);
    await verifier.stop();
    rows.push({ daemon: `verify-${family}`, operation: 'verify', ...verify, primitive: `${family} verify (node:crypto, 1 thread)` });
  }
  fs.rmSync(dir, { recursive: true, force: true });
  return rows;
}
