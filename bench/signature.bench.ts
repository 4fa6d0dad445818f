// Bench for sign-rsa, verify-rsa, sign-ecdsa, verify-ecdsa on the embedded store: daemon
// throughput over 16 keep-open loopback connections beside node:crypto's single-thread rate,
// the two measured in alternating slices over the same seconds; then one connection per request,
// as `echo x | nc` (no half-close) and `nc -N` (half-close) make them.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateKeyFiles } from '../lib/admin/keygen-command.js';
import { startDaemon } from '../test/helpers/daemon.js';
import { loadBesidePrimitive, loadOneShot, metricsArgs, ONE_SHOT_CLIENTS, primitiveRate, type BenchRow } from './harness.js';
import { sharedStores } from './shared-stores.js';
import { startRedis } from '../test/helpers/redis-server.js';
import { whichTool } from '../test/helpers/tools.js';

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
    const opts =
      family === 'rsa'
        ? { key: privateKey, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }
        : { key: privateKey, dsaEncoding: 'ieee-p1363' as const };
    const hash = family === 'rsa' ? 'sha256' : 'sha384';
    const signature = crypto.sign(hash, message, opts);
    const rawSign = (): void => void crypto.sign(hash, message, opts);
    const rawVerify = (): void => void crypto.verify(hash, message, { ...opts, key: publicKey }, signature);

    const common = ['--port', '0', '--keep-open', '--state-dir', path.join(dir, 'state'), ...metricsArgs()];
    const { signed, rows: pair } = await signThenVerify(family, keys, common, family, { rawSign, rawVerify });
    rows.push(...pair);
    rows.push(...(await oneShotRows(family, keys, path.join(dir, 'state'), signed, rawSign, rawVerify)));
    if (family === 'ecdsa') rows.push(...(await otherStoreRows(keys, rawSign, rawVerify)));
  }
  fs.rmSync(dir, { recursive: true, force: true });
  return rows;
}

/**
 * sign-<family> under load beside the raw sign, then verify-<family> on the signatures it made
 * beside the raw verify: the two rows, named `sign-<label>` and `verify-<label>`, and the signatures.
 */
async function signThenVerify(
  family: 'rsa' | 'ecdsa',
  keys: { privateKeyFile: string; publicKeyFile: string },
  common: string[],
  label: string,
  raw: { rawSign: () => void; rawVerify: () => void },
): Promise<{ signed: string[]; rows: BenchRow[] }> {
  const signer = await startDaemon([`sign-${family}`, '--key', keys.privateKeyFile, ...common], { dropLogsAfterStart: true });
  const signed: string[] = [];
  const sign = await loadBesidePrimitive(
    {
      port: signer.port,
      connections: CONNECTIONS,
      durationMs: DURATION_MS,
      line: (conn, seq) => `message ${conn} ${seq}`,
      check: (reply) => {
        const sig = /b'([0-9a-f]+)'\)$/.exec(reply)?.[1];
        if (sig && signed.length < 5000) signed.push(sig);
        return sig !== undefined;
      },
    },
    raw.rawSign,
  );
  await signer.stop();
  const verifier = await startDaemon([`verify-${family}`, '--keyring', keys.publicKeyFile, ...common], { dropLogsAfterStart: true });
  const valid = family === 'rsa' ? "('Validated as:', True)" : 'Valid entry found.';
  const verify = await loadBesidePrimitive(
    {
      port: verifier.port,
      connections: CONNECTIONS,
      durationMs: DURATION_MS,
      line: (conn, seq) => signed[(conn * 7919 + seq) % signed.length]!,
      check: (reply) => reply === valid,
    },
    raw.rawVerify,
  );
  await verifier.stop();
  return {
    signed,
    rows: [
      { daemon: `sign-${label}`, operation: 'sign 30 B', ...sign, primitive: `${family} sign (node:crypto, 1 thread)` },
      { daemon: `verify-${label}`, operation: 'verify', ...verify, primitive: `${family} verify (node:crypto, 1 thread)` },
    ],
  };
}

/** ECDSA sign and verify on the other stores (Redis, PostgreSQL, etcd), beside the SQLite rows above. */
async function otherStoreRows(keys: { privateKeyFile: string; publicKeyFile: string }, rawSign: () => void, rawVerify: () => void): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const redis = whichTool('redis-server') ? await startRedis() : null;
  const shared = await sharedStores();
  const stores = [...(redis ? [{ name: 'redis AOF always', args: ['--store', 'redis', '--redis-url', redis.url] }] : []), ...shared.stores];
  try {
    for (const store of stores) {
      const { rows: pair } = await signThenVerify('ecdsa', keys, ['--port', '0', '--keep-open', ...store.args], `ecdsa (${store.name})`, {
        rawSign,
        rawVerify,
      });
      rows.push(...pair);
    }
  } finally {
    await redis?.stop();
    await shared.stop();
  }
  return rows;
}

/** The users' main path: one request per connection, in the daemons' default (one-shot) mode. */
async function oneShotRows(
  family: 'rsa' | 'ecdsa',
  keys: { privateKeyFile: string; publicKeyFile: string },
  stateDir: string,
  signed: string[],
  rawSign: () => void,
  rawVerify: () => void,
): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const common = ['--port', '0', '--state-dir', stateDir];
  const valid = family === 'rsa' ? "('Validated as:', True)" : 'Valid entry found.';
  const runs = [
    {
      daemon: `sign-${family}`,
      args: [`sign-${family}`, '--key', keys.privateKeyFile],
      line: (c: number, s: number) => `one-shot ${c} ${s}`,
      check: (r: string) => /b'[0-9a-f]+'\)$/.test(r),
      raw: rawSign,
      primitive: `${family} sign (node:crypto, 1 thread)`,
    },
    {
      daemon: `verify-${family}`,
      args: [`verify-${family}`, '--keyring', keys.publicKeyFile],
      line: (c: number, s: number) => signed[(c * 7919 + s) % signed.length]!,
      check: (r: string) => r === valid,
      raw: rawVerify,
      primitive: `${family} verify (node:crypto, 1 thread)`,
    },
  ];
  for (const run of runs) {
    const daemon = await startDaemon([...run.args, ...common], { dropLogsAfterStart: true });
    for (const halfClose of [false, true]) {
      const result = await loadOneShot({
        port: daemon.port,
        clients: ONE_SHOT_CLIENTS,
        durationMs: DURATION_MS / 2,
        line: run.line,
        check: run.check,
        halfClose,
      });
      const how = halfClose ? 'nc -N (half-close)' : 'echo | nc (no half-close)';
      rows.push({
        daemon: run.daemon,
        operation: `one conn per request, ${how}, ${ONE_SHOT_CLIENTS} client`,
        ...result,
        primitive: run.primitive,
        primitivePerSecond: primitiveRate(1_000, run.raw),
      });
    }
    await daemon.stop();
  }
  return rows;
}
