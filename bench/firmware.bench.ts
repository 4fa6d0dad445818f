// Bench for the firmware daemon's digest flows over the line protocol (module PKCS#7, swupdate
// RSA-PSS and CMS, Mender RSA and P-256, OP-TEE PSS, UEFI Authenticode and CMS), and i.MX HAB4 CSFs
// and U-Boot FIT images over HTTP (/sign/imx, /sign/fitimage, whole image uploaded), beside node:crypto's single-thread raw rates; and
// /sign/modules as the Yocto class calls it (tar + curl per build) beside sign-file in a loop.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startDaemon } from '../test/helpers/daemon.js';
import { csfText, makeHabPki } from '../test/integration/firmware/hab-fixtures.js';
import { copyKeyRoot, MACHINE, SIGN_FILE, vector } from '../test/integration/firmware/line-fixtures.js';
import { whichTool } from '../test/helpers/tools.js';
import { loadHttpPosts, loadLines, loadOneShot, loadSync, ONE_SHOT_CLIENTS, primitiveRate, type BenchRow } from './harness.js';

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
  { operation: 'MENDER-DIGEST P-256', line: (d) => `MENDER-DIGEST poky ${d}`, digestBytes: 32, primitive: 'ec' },
  { operation: 'MENDER P-256 manifest (242 B)', line: () => `MENDER poky ${MANIFEST_B64}`, digestBytes: 0, primitive: 'ec' },
  { operation: 'OPTEE PSS digest', line: (d) => `OPTEE qemux86-64 PSS ${d}`, digestBytes: 32, primitive: 'rsa' },
  { operation: 'UEFI Authenticode digest → PKCS#7', line: (d) => `UEFI qemux86-64 ${d}`, digestBytes: 32, primitive: 'rsa' },
  { operation: 'UEFI-CMS digest (NVIDIA .sig)', line: (d) => `UEFI-CMS qemux86-64 ${d}`, digestBytes: 32, primitive: 'rsa' },
];

export async function bench(): Promise<BenchRow[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signerd-bench-fw-'));
  try {
    const keyRoot = copyKeyRoot(dir);
    const pki = makeHabPki(path.join(dir, 'pki'));
    fs.mkdirSync(path.join(keyRoot, IMX_MACHINE, 'imxsign'), { recursive: true });
    for (const file of ['csf.key', 'csf.crt', 'img.key', 'img.crt', 'srk1.crt', 'srk2.crt', 'srk3.crt', 'srk4.crt'])
      fs.copyFileSync(path.join(pki, file), path.join(keyRoot, IMX_MACHINE, 'imxsign', file));
    return await run(keyRoot);
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
  rows.push(await imxRow(keyRoot, raw.rsa));
  rows.push(...(await fitRow(keyRoot, raw.rsa)));
  rows.push(...(await modulesRows(keyRoot)));
  return rows;
}

/** A typical out-of-tree or driver module's size. */
const MODULE_BYTES = 200 * 1024;

/** Builds posting at once (BitBake runs several tasks side by side). */
const MODULE_CLIENTS = 4;

/**
 * kernel-module-signing.bbclass's path for one ~200 KB module: tar it, curl the tarball to
 * /sign/modules, get the signed tarball back (one curl process per build, as the class runs it);
 * beside it, sign-file signing the same module in a loop with the same key, one process per module.
 * The same upload from kept-alive clients shows what the daemon itself takes, without curl's start.
 */
async function modulesRows(keyRoot: string): Promise<BenchRow[]> {
  if (!whichTool('curl') || !whichTool('tar') || !fs.existsSync(SIGN_FILE)) return [];
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'signerd-bench-modules-'));
  const daemon = await startDaemon(['firmware', '--key-root', keyRoot, '--port', '0', '--http-port', '0'], { listeners: 2, dropLogsAfterStart: true });
  try {
    const moduleDir = path.join(work, 'lib/modules/6.1.0-bench/kernel');
    fs.mkdirSync(moduleDir, { recursive: true });
    const module = path.join(moduleDir, 'bench.ko');
    fs.writeFileSync(module, crypto.randomBytes(MODULE_BYTES));
    const tarball = path.join(work, 'modules.tar.gz');
    if (spawnSync('tar', ['-C', work, '-c', '-z', '-f', tarball, 'lib/modules']).status !== 0) throw new Error('tar failed');
    const url = `http://127.0.0.1:${daemon.ports[1]}/sign/modules`;
    const post = (): void => {
      const r = spawnSync('curl', [
        '--silent',
        '--fail',
        '-X',
        'POST',
        '-F',
        `machine=${MACHINE}`,
        '-F',
        'hashalg=sha512',
        '-F',
        `artifact=@${tarball}`,
        '--output',
        path.join(work, 'out.tar.gz'),
        url,
      ]);
      if (r.status !== 0) throw new Error(`curl exited ${r.status}`);
    };
    const kmod = path.join(keyRoot, MACHINE, 'kmodsign');
    const signFile = (): void => {
      const r = spawnSync(SIGN_FILE, [
        'sha512',
        path.join(kmod, 'kernel-signkey.priv'),
        path.join(kmod, 'kernel-signkey.x509'),
        module,
        path.join(work, 'signed.ko'),
      ]);
      if (r.status !== 0) throw new Error(`sign-file exited ${r.status}`);
    };
    post();
    const raw = loadSync(DURATION_MS, signFile);
    const curlOnly = loadSync(1_000, () => void spawnSync('curl', ['--version']));
    const result = loadSync(DURATION_MS, post);
    const artifact = new Blob([fs.readFileSync(tarball)], { type: 'application/octet-stream' });
    const form = (): FormData => {
      const f = new FormData();
      f.append('machine', MACHINE);
      f.append('hashalg', 'sha512');
      f.append('artifact', artifact, 'modules.tar.gz');
      return f;
    };
    const kept = await loadHttpPosts({ url, clients: MODULE_CLIENTS, durationMs: DURATION_MS, form });
    const primitive = 'sign-file sha512 in a loop, same module';
    return [
      {
        daemon: 'firmware',
        operation: `/sign/modules, one ${MODULE_BYTES / 1024} KB module per request, curl per build (the class's call; curl --version alone ${curlOnly.p50Ms.toFixed(1)} ms), 1 client`,
        ...result,
        primitive,
        primitivePerSecond: raw.perSecond,
      },
      {
        daemon: 'firmware',
        operation: `/sign/modules, the same upload from ${MODULE_CLIENTS} kept-alive clients (no process per request)`,
        ...kept,
        primitive,
        primitivePerSecond: raw.perSecond,
      },
    ];
  } finally {
    await daemon.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

const IMX_MACHINE = 'imx8mm-evk';
/** An i.MX 8M flash.bin is 1-2 MiB; its FIT Blocks cover most of it. */
const IMX_IMAGE_BYTES = 1024 * 1024;
const UPLOAD_CLIENTS = 4;

/** /sign/imx as builds post it: CSF text + 1 MiB image per request (2 RSA signatures each), 4 clients (--http-jobs-max). */
function imxRow(keyRoot: string, rawRsa: number): Promise<BenchRow> {
  const image = new Blob([crypto.randomBytes(IMX_IMAGE_BYTES)], { type: 'application/octet-stream' });
  const csf = new Blob([csfText('0x401fcdc0 0x0 0x2a600 "flash.bin", 0x40200000 0x2b000 0xd0000 "flash.bin"')], { type: 'text/plain' });
  const form = (): FormData => {
    const f = new FormData();
    for (const [k, v] of Object.entries({ machine: IMX_MACHINE, soctype: 'mx8m', cstversion: '3.3.1' })) f.append(k, v);
    f.append('csf', csf, 'csf_fit.txt');
    f.append('artifact', image, 'flash.bin');
    return f;
  };
  return uploadRow(keyRoot, rawRsa, '/sign/imx', form, `/sign/imx HAB4 CSF (1 MiB image, 2 signatures), HTTP, ${UPLOAD_CLIENTS} clients`);
}

/** A FIT's kernel: a compressed arm64 Image is 8-30 MiB; 4 MiB keeps the upload from dominating the row. */
const FIT_KERNEL_BYTES = 4 * 1024 * 1024;

/** /sign/fitimage: a FIT mkimage -f built (4 MiB kernel, a device tree; kernel and configuration signed: 2 signatures). */
async function fitRow(keyRoot: string, rawRsa: number): Promise<BenchRow[]> {
  if (!whichTool('mkimage') || !whichTool('dtc')) return [];
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'signerd-bench-fit-'));
  try {
    fs.copyFileSync(vector('fit', 'simple.its'), path.join(work, 'fit.its'));
    fs.writeFileSync(path.join(work, 'kernel.bin'), crypto.randomBytes(FIT_KERNEL_BYTES));
    fs.writeFileSync(path.join(work, 'board.dtb'), crypto.randomBytes(64 * 1024));
    if (spawnSync('mkimage', ['-f', 'fit.its', 'fitImage'], { cwd: work }).status !== 0) throw new Error('mkimage -f failed');
    const fit = new Blob([fs.readFileSync(path.join(work, 'fitImage'))], { type: 'application/octet-stream' });
    const form = (): FormData => {
      const f = new FormData();
      f.append('machine', MACHINE);
      f.append('artifact', fit, 'fitImage');
      return f;
    };
    return [
      await uploadRow(keyRoot, rawRsa, '/sign/fitimage', form, `/sign/fitimage U-Boot FIT (4 MiB kernel, 2 signatures), HTTP, ${UPLOAD_CLIENTS} clients`),
    ];
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** One upload endpoint under load from UPLOAD_CLIENTS kept-alive clients (--http-jobs-max), after a short warm-up. */
async function uploadRow(keyRoot: string, rawRsa: number, endpoint: string, form: () => FormData, operation: string): Promise<BenchRow> {
  const daemon = await startDaemon(['firmware', '--key-root', keyRoot, '--port', '0', '--http-port', '0'], { listeners: 2, dropLogsAfterStart: true });
  try {
    const url = `http://127.0.0.1:${daemon.ports[1]}${endpoint}`;
    await loadHttpPosts({ url, clients: 1, durationMs: 300, form });
    const result = await loadHttpPosts({ url, clients: UPLOAD_CLIENTS, durationMs: DURATION_MS, form });
    return { daemon: 'firmware', operation, ...result, primitive: 'rsa-2048 pkcs1 sign (node:crypto, 1 thread)', primitivePerSecond: rawRsa };
  } finally {
    await daemon.stop();
  }
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
