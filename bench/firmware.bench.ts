// Bench for the firmware daemon's digest flows over the line protocol (module PKCS#7, swupdate
// RSA-PSS and CMS, Mender RSA and P-256, OP-TEE PSS, UEFI Authenticode and CMS) beside node:crypto's single-thread raw rates.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startDaemon } from '../test/helpers/daemon.js';
import { copyKeyRoot } from '../test/integration/firmware/line-fixtures.js';
import { loadLines, loadOneShot, ONE_SHOT_CLIENTS, primitiveRate, type BenchRow } from './harness.js';

const DURATION_MS = Number(process.env['BENCH_MS'] ?? 3_000);
const CONNECTIONS = 16;
/** A real mender-artifact manifest shape: three `<sha256>  <path>` lines. */
const MANIFEST_B64 = Buffer.from(['data/0000/rootfs.ext4', 'header.tar.gz', 'version'].map((p, i) => `${String(i).repeat(64)}  ${p}\n`).join('')).toString(
  'base64',
);

interface Flow {
  operation: string;
  line: (digest: string) => string;
  digestBytes: number;
  primitive: 'rsa' | 'ec';
}

const FLOWS: Flow[] = [
  { operation: 'MODULE sha512 digest → PKCS#7', line: (d) => `MODULE qemux86-64 sha512 ${d}`, digestBytes: 64, primitive: 'rsa' },
  { operation: 'SWUPDATE-DIGEST RSA-PSS', line: (d) => `SWUPDATE-DIGEST poky RSA-PSS ${d}`, digestBytes: 32, primitive: 'rsa' },
  { operation: 'SWUPDATE-DIGEST CMS', line: (d) => `SWUPDATE-DIGEST poky CMS ${d}`, digestBytes: 32, primitive: 'rsa' },
  { operation: 'MENDER-DIGEST RSA', line: (d) => `MENDER-DIGEST poky-rsa ${d}`, digestBytes: 32, primitive: 'rsa' },
  { operation: 'MENDER-DIGEST P-256 (noble)', line: (d) => `MENDER-DIGEST poky ${d}`, digestBytes: 32, primitive: 'ec' },
  { operation: 'MENDER P-256 manifest (242 B)', line: () => `MENDER poky ${MANIFEST_B64}`, digestBytes: 0, primitive: 'ec' },
  { operation: 'OPTEE PSS digest', line: (d) => `OPTEE qemux86-64 PSS ${d}`, digestBytes: 32, primitive: 'rsa' },
  { operation: 'UEFI Authenticode digest → PKCS#7', line: (d) => `UEFI qemux86-64 ${d}`, digestBytes: 32, primitive: 'rsa' },
  { operation: 'UEFI-CMS digest (NVIDIA .sig)', line: (d) => `UEFI-CMS qemux86-64 ${d}`, digestBytes: 32, primitive: 'rsa' },
];

export async function bench(): Promise<BenchRow[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signerd-bench-fw-'));
  try {
    return await run(copyKeyRoot(dir));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function run(keyRoot: string): Promise<BenchRow[]> {
  const rsaKey = crypto.createPrivateKey(fs.readFileSync(path.join(keyRoot, 'poky/swupdate/rsa-private.key')));
  const ecKey = crypto.createPrivateKey(fs.readFileSync(path.join(keyRoot, 'poky/mender/private.key')));
  const message = Buffer.from('bench manifest 0123456789abcdef');
  const raw = {
    rsa: primitiveRate(2_000, () => crypto.sign('sha256', message, { key: rsaKey, padding: crypto.constants.RSA_PKCS1_PADDING })),
    ec: primitiveRate(2_000, () => crypto.sign('sha256', message, { key: ecKey, dsaEncoding: 'ieee-p1363' })),
  };
  const daemon = await startDaemon(['firmware', '--key-root', keyRoot, '--port', '0', '--no-http', '--keep-open'], { dropLogsAfterStart: true });
  const rows: BenchRow[] = [];
  try {
    for (const flow of FLOWS) {
      const digests = Array.from({ length: 64 }, () => crypto.randomBytes(flow.digestBytes).toString('hex'));
      const result = await loadLines({
        port: daemon.port,
        connections: CONNECTIONS,
        durationMs: DURATION_MS,
        line: (conn, seq) => flow.line(digests[(conn + seq) % digests.length]!),
        check: (reply) => reply.startsWith('OK '),
      });
      const primitive = flow.primitive === 'rsa' ? 'rsa-2048 pkcs1 sign (node:crypto, 1 thread)' : 'ecdsa p-256 sign (node:crypto, 1 thread)';
      rows.push({ daemon: 'firmware', operation: flow.operation, ...result, primitive, primitivePerSecond: raw[flow.primitive] });
    }
  } finally {
    await daemon.stop();
  }
  rows.push(...(await oneShotRows(keyRoot, raw.rsa)));
  return rows;
}

/** The client scripts' path: one digest per connection, the daemon in its default (one-shot) mode. */
async function oneShotRows(keyRoot: string, rawRsa: number): Promise<BenchRow[]> {
  const daemon = await startDaemon(['firmware', '--key-root', keyRoot, '--port', '0', '--no-http'], { dropLogsAfterStart: true });
  const digests = Array.from({ length: 64 }, () => crypto.randomBytes(32).toString('hex'));
  const rows: BenchRow[] = [];
  try {
    for (const halfClose of [false, true]) {
      const result = await loadOneShot({
        port: daemon.port,
        clients: ONE_SHOT_CLIENTS,
        durationMs: DURATION_MS / 2,
        line: (c, s) => `SWUPDATE-DIGEST poky RSA-PSS ${digests[(c + s) % 64]}`,
        check: (r) => r.startsWith('OK '),
        halfClose,
      });
      const how = halfClose ? 'nc -N (half-close)' : 'echo | nc (no half-close)';
      rows.push({
        daemon: 'firmware',
        operation: `SWUPDATE-DIGEST RSA-PSS, one conn per request, ${how}, ${ONE_SHOT_CLIENTS} client`,
        ...result,
        primitive: 'rsa-2048 pkcs1 sign (node:crypto, 1 thread)',
        primitivePerSecond: rawRsa,
      });
    }
  } finally {
    await daemon.stop();
  }
  return rows;
}
