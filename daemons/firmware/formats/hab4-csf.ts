// NXP i.MX HAB4 (i.MX 8M family) binary CSF, built in process from a CST-style text CSF: header,
// Install SRK, Install CSFK, Authenticate CSF, optional Unlock, Install Key, Authenticate Data, then
// the SRK table, the certificates and the detached CMS signatures the commands point at (HAB4 API
// reference / NXP CST; big-endian, 4-byte aligned). The SRK table and its fuse hash are srktool's.
import crypto from 'node:crypto';
import { X509Certificate } from 'node:crypto';
import { DaemonError } from '../../../lib/errors.js';
import { HAB_BLOCKS_COVER_FACTOR_MAX, HAB_CSF_TEXT_BYTES_MAX } from '../firmware-limits.js';
import { signCmsDigest } from './cms.js';
import { certificateOf, type DigestSigner } from './digest-signer.js';

const TAG = { csf: 0xd4, crt: 0xd7, sig: 0xd8, installKey: 0xbe, authData: 0xca, unlock: 0xb2, publicKey: 0xe1 } as const;
const PCL = { srk: 0x03, x509: 0x09, cms: 0xc5 } as const;
const ALG_SHA256 = 0x17;
const ALG_PKCS1 = 0x21;
const ENGINES: Record<string, number> = { ANY: 0x00, CAAM: 0x1d, DCP: 0x1b, SNVS: 0x1e, OCOTP: 0x21 };
/** CAAM unlock features (HAB4 API: HAB_CAAM_UNLOCK_*). */
const CAAM_FEATURES: Record<string, number> = { MID: 0x01, RNG: 0x02, MFG: 0x04 };
const INSTALL_KEY_FLAG_CSF = 0x02;
const SRK_KEYS_MAX = 4;
const BLOCKS_MAX = 64;
/** The CSF region an i.MX 8M image reserves (CSF_SIZE in U-Boot's imx8m flash.bin layout). */
const CSF_BYTES_MAX = 0x2000;

interface HabBlock {
  /** Load address of the block on the target. */
  readonly address: number;
  /** Offset of the block in the uploaded file. */
  readonly offset: number;
  readonly length: number;
}

/** What a CST text CSF asks for (only what HAB4 signing on i.MX 8M uses). */
export interface HabCsfRequest {
  /** 0x40..0x43 from "Version = 4.x". */
  readonly version: number;
  readonly engine: number;
  readonly engineConfig: number;
  /** Index of the SRK in the table that signs the CSFK and IMG certificates (0-3). */
  readonly srkIndex: number;
  /** CAAM unlock features, or null when the CSF has no [Unlock]. */
  readonly unlock: number | null;
  /** Install Key target slot (2-4) that Authenticate Data names. */
  readonly imgKeySlot: number;
  /** The file the Blocks name (digsigserver saves the upload under its own name; it must match). */
  readonly blocksFile: string;
  readonly blocks: readonly HabBlock[];
}

const bad = (why: string): DaemonError => new DaemonError('BAD_REQUEST', `CSF: ${why}`);

/** Reads CST's text CSF (sections in brackets, `Key = value` lines); anything outside what HAB4 signing needs is refused. */
export function parseCsfText(text: string): HabCsfRequest {
  if (text.length > HAB_CSF_TEXT_BYTES_MAX) throw bad(`longer than ${HAB_CSF_TEXT_BYTES_MAX} bytes`);
  const sections: Array<{ name: string; values: Map<string, string> }> = [];
  // A trailing backslash continues a line (CST's Blocks lists).
  for (const rawLine of text.replace(/\\\r?\n/g, ' ').split(/\r?\n/)) {
    const line = rawLine.replace(/#.*$/, '').trim();
    if (line === '') continue;
    const header = /^\[\s*([A-Za-z ]+?)\s*\]$/.exec(line);
    if (header) {
      sections.push({ name: header[1]!.toLowerCase().replace(/\s+/g, ' '), values: new Map() });
      continue;
    }
    const kv = /^([A-Za-z ]+?)\s*=\s*(.+)$/.exec(line);
    const section = sections.at(-1);
    if (!kv || !section) throw bad(`cannot read line ${JSON.stringify(line.slice(0, 60))}`);
    section.values.set(kv[1]!.toLowerCase().replace(/\s+/g, ' '), kv[2]!.trim());
  }
  const names = sections.map((s) => s.name);
  const expected = ['header', 'install srk', 'install csfk', 'authenticate csf', 'install key', 'authenticate data'];
  const withoutUnlock = names.filter((n) => n !== 'unlock');
  if (withoutUnlock.join('|') !== expected.join('|') || names.filter((n) => n === 'unlock').length > 1)
    throw bad(`sections must be ${expected.map((n) => `[${n}]`).join(' ')} (and at most one [Unlock] after [Authenticate CSF])`);
  const get = (name: string) => sections.find((s) => s.name === name)!.values;
  const head = get('header');
  const version = /^4\.([0-3])$/.exec(head.get('version') ?? '');
  if (!version) throw bad('Header Version must be 4.0 to 4.3');
  if ((head.get('hash algorithm') ?? 'sha256').toLowerCase() !== 'sha256') throw bad('Hash Algorithm must be sha256');
  if ((head.get('certificate format') ?? 'X509').toUpperCase() !== 'X509') throw bad('Certificate Format must be X509');
  if ((head.get('signature format') ?? 'CMS').toUpperCase() !== 'CMS') throw bad('Signature Format must be CMS');
  const engine = engineOf(head.get('engine') ?? 'ANY');
  const engineConfig = numberIn(head.get('engine configuration') ?? '0', 'Engine Configuration', 0, 0xff);
  const srkIndex = numberIn(get('install srk').get('source index') ?? '', 'Install SRK Source index', 0, SRK_KEYS_MAX - 1);
  let unlock: number | null = null;
  if (names.includes('unlock')) {
    const u = get('unlock');
    if ((u.get('engine') ?? '').toUpperCase() !== 'CAAM') throw bad('Unlock Engine must be CAAM');
    unlock = 0;
    for (const feature of (u.get('features') ?? '').split(',').map((f) => f.trim().toUpperCase())) {
      const bit = Object.hasOwn(CAAM_FEATURES, feature) ? CAAM_FEATURES[feature]! : undefined;
      if (bit === undefined) throw bad('Unlock Features must be MID, RNG and/or MFG');
      unlock |= bit;
    }
  }
  const key = get('install key');
  if (numberIn(key.get('verification index') ?? '', 'Install Key Verification index', 0, 0) !== 0)
    throw bad('Install Key Verification index must be 0 (the SRK)');
  const imgKeySlot = numberIn(key.get('target index') ?? '', 'Install Key Target index', 2, 4);
  const data = get('authenticate data');
  if (numberIn(data.get('verification index') ?? '', 'Authenticate Data Verification index', 2, 4) !== imgKeySlot)
    throw bad('Authenticate Data Verification index must name the Install Key Target index');
  const { file, blocks } = parseBlocks(data.get('blocks') ?? '');
  return { version: 0x40 + Number(version[1]), engine, engineConfig, srkIndex, unlock, imgKeySlot, blocksFile: file, blocks };
}

function parseBlocks(text: string): { file: string; blocks: HabBlock[] } {
  const blocks: HabBlock[] = [];
  let file: string | null = null;
  for (const part of text.split(',')) {
    const m = /^\s*(\S+)\s+(\S+)\s+(\S+)\s+"([^"]+)"\s*$/.exec(part);
    if (!m) throw bad('Blocks must be `<address> <offset> <length> "<file>"`, comma-separated');
    if (file !== null && m[4] !== file) throw bad('all Blocks must name the one uploaded file');
    file = m[4]!;
    blocks.push({
      address: numberIn(m[1]!, 'block address', 0, 0xffffffff),
      offset: numberIn(m[2]!, 'block offset', 0, 0xffffffff),
      length: numberIn(m[3]!, 'block length', 1, 0xffffffff),
    });
  }
  if (blocks.length === 0 || blocks.length > BLOCKS_MAX) throw bad(`1 to ${BLOCKS_MAX} Blocks`);
  return { file: file!, blocks };
}

function numberIn(text: string, what: string, min: number, max: number): number {
  const t = text.trim();
  const value = /^0[xX][0-9a-fA-F]{1,8}$/.test(t) ? parseInt(t, 16) : /^[0-9]{1,10}$/.test(t) ? Number(t) : NaN;
  if (!Number.isInteger(value) || value < min || value > max) throw bad(`${what} must be a number from ${min} to ${max}`);
  return value;
}

function engineOf(name: string): number {
  const engine = Object.hasOwn(ENGINES, name.toUpperCase()) ? ENGINES[name.toUpperCase()] : undefined;
  if (engine === undefined) throw bad(`Engine must be one of ${Object.keys(ENGINES).join(', ')}`);
  return engine;
}

/** HAB4 SRK table from up to four SRK certificates (RSA), byte-identical to `srktool -h 4 -d sha256`. */
export function srkTable(certificates: readonly X509Certificate[]): Buffer {
  if (certificates.length === 0 || certificates.length > SRK_KEYS_MAX) throw new DaemonError('KEY_LOAD_FAILED', `an SRK table holds 1 to ${SRK_KEYS_MAX} keys`);
  return wrap(TAG.crt, 0x40, Buffer.concat(certificates.map(srkEntry)));
}

/** The SRK fuse hash: SHA-256 over the SHA-256 of each key entry (what `srktool -e` writes, fuse format 1). */
export function srkFuseHash(table: Buffer): Buffer {
  const entries: Buffer[] = [];
  for (let at = 4; at < table.length;) {
    const length = table.readUInt16BE(at + 1);
    entries.push(
      crypto
        .createHash('sha256')
        .update(table.subarray(at, at + length))
        .digest(),
    );
    at += length;
  }
  return crypto.createHash('sha256').update(Buffer.concat(entries)).digest();
}

/** One public key entry: E1 len 21 | 00 00 00 flags(0x80 = CA) | modulus bytes | exponent bytes | n | e. */
function srkEntry(certificate: X509Certificate): Buffer {
  const jwk = certificate.publicKey.export({ format: 'jwk' });
  if (jwk.kty !== 'RSA' || !jwk.n || !jwk.e) throw new DaemonError('KEY_LOAD_FAILED', 'SRK certificates must hold RSA keys');
  const n = Buffer.from(jwk.n, 'base64url');
  const e = Buffer.from(jwk.e, 'base64url');
  const body = Buffer.alloc(8);
  body[3] = certificate.ca ? 0x80 : 0;
  body.writeUInt16BE(n.length, 4);
  body.writeUInt16BE(e.length, 6);
  return wrap(TAG.publicKey, ALG_PKCS1, Buffer.concat([body, n, e]));
}

export interface HabKeys {
  /** SRK table bytes (srktool's). */
  readonly srkTable: Buffer;
  /** CSF key with its certificate (signed by the SRK). */
  readonly csf: DigestSigner;
  /** IMG key with its certificate (signed by the SRK). */
  readonly img: DigestSigner;
}

/**
 * The binary CSF for `request` over `image` (the uploaded file the Blocks name): commands, then the
 * SRK table, CSFK and IMG certificates, the image signature and the CSF signature (each 4-byte
 * aligned). The CSF signature covers header and commands, the image signature the blocks in order.
 */
export async function buildHabCsf(request: HabCsfRequest, image: Buffer, keys: HabKeys, signingTime: Date = new Date()): Promise<Buffer> {
  let covered = 0;
  for (const block of request.blocks) {
    if (block.offset + block.length > image.length) throw bad(`block at offset ${block.offset} (+${block.length}) is outside the ${image.length}-byte file`);
    covered += block.length;
  }
  // Blocks may overlap, so 64 of them could each name the whole file: without a bound a 64 MiB
  // upload would have the daemon hash 4 GiB in one request.
  if (covered > image.length * HAB_BLOCKS_COVER_FACTOR_MAX)
    throw bad(`the Blocks cover ${covered} bytes, more than ${HAB_BLOCKS_COVER_FACTOR_MAX} times the ${image.length}-byte file`);
  const csfCert = wrap(TAG.crt, request.version, certificateOf(keys.csf, 'a HAB CSF key').der);
  const imgCert = wrap(TAG.crt, request.version, certificateOf(keys.img, 'a HAB IMG key').der);
  // The signed attributes carry only the digest, so the Blocks are hashed in place, one after the
  // other, never copied into one buffer (that copy grew with every overlapping Block).
  const blocksHash = crypto.createHash('sha256');
  for (const b of request.blocks) blocksHash.update(image.subarray(b.offset, b.offset + b.length));
  const imgSig = wrap(TAG.sig, request.version, await habCms(keys.img, blocksHash.digest(), signingTime));

  const unlockBytes = request.unlock === null ? 0 : 8;
  const commandsEnd = 4 + 12 + 12 + 12 + unlockBytes + 12 + 12 + 8 * request.blocks.length;
  const at: number[] = [];
  let cursor = align4(commandsEnd);
  for (const part of [keys.srkTable, csfCert, imgCert, imgSig]) {
    at.push(cursor);
    cursor = align4(cursor + part.length);
  }
  const csfSigAt = cursor;
  const [srkAt, csfCertAt, imgCertAt, imgSigAt] = at as [number, number, number, number];

  const commands = Buffer.concat([
    header(TAG.csf, commandsEnd, request.version),
    installKey(0, PCL.srk, ALG_SHA256, request.srkIndex, 0, srkAt),
    installKey(INSTALL_KEY_FLAG_CSF, PCL.x509, 0, 0, 1, csfCertAt),
    authenticateData(1, request.engine, request.engineConfig, csfSigAt, []),
    ...(request.unlock === null ? [] : [unlockCommand(ENGINES['CAAM']!, request.unlock)]),
    installKey(0, PCL.x509, 0, 0, request.imgKeySlot, imgCertAt),
    authenticateData(request.imgKeySlot, request.engine, request.engineConfig, imgSigAt, request.blocks),
  ]);
  const csfSig = wrap(TAG.sig, request.version, await habCms(keys.csf, crypto.createHash('sha256').update(commands).digest(), signingTime));
  const out = Buffer.alloc(align4(csfSigAt + csfSig.length));
  commands.copy(out, 0);
  keys.srkTable.copy(out, srkAt);
  csfCert.copy(out, csfCertAt);
  imgCert.copy(out, imgCertAt);
  imgSig.copy(out, imgSigAt);
  csfSig.copy(out, csfSigAt);
  if (out.length > CSF_BYTES_MAX) throw bad(`the signed CSF is ${out.length} bytes, more than the ${CSF_BYTES_MAX} an i.MX 8M image reserves`);
  return out;
}

/**
 * Detached CMS as CST writes it over content whose SHA-256 is `digest`: contentType/signingTime/
 * messageDigest, no certificates, no S/MIME capabilities.
 */
function habCms(signer: DigestSigner, digest: Buffer, signingTime: Date): Promise<Buffer> {
  if (signer.type !== 'rsa') throw new DaemonError('INTERNAL', 'HAB4 keys are RSA');
  return signCmsDigest(signer, digest, { signingTime, includeCertificate: false });
}

function header(tag: number, length: number, param: number): Buffer {
  const h = Buffer.alloc(4);
  h[0] = tag;
  h.writeUInt16BE(length, 1);
  h[3] = param;
  return h;
}

function wrap(tag: number, param: number, body: Buffer): Buffer {
  if (body.length + 4 > 0xffff) throw bad('a certificate or signature longer than 64 KiB');
  return Buffer.concat([header(tag, body.length + 4, param), body]);
}

function installKey(flags: number, protocol: number, alg: number, source: number, target: number, location: number): Buffer {
  const c = Buffer.alloc(12);
  header(TAG.installKey, 12, flags).copy(c);
  c[4] = protocol;
  c[5] = alg;
  c[6] = source;
  c[7] = target;
  c.writeUInt32BE(location, 8);
  return c;
}

function authenticateData(keySlot: number, engine: number, engineConfig: number, location: number, blocks: readonly HabBlock[]): Buffer {
  const c = Buffer.alloc(12 + 8 * blocks.length);
  header(TAG.authData, c.length, 0).copy(c);
  c[4] = keySlot;
  c[5] = PCL.cms;
  c[6] = engine;
  c[7] = engineConfig;
  c.writeUInt32BE(location, 8);
  blocks.forEach((b, i) => {
    c.writeUInt32BE(b.address, 12 + 8 * i);
    c.writeUInt32BE(b.length, 16 + 8 * i);
  });
  return c;
}

function unlockCommand(engine: number, features: number): Buffer {
  const c = Buffer.alloc(8);
  header(TAG.unlock, 8, engine).copy(c);
  c.writeUInt32BE(features, 4);
  return c;
}

function align4(n: number): number {
  return (n + 3) & ~3;
}
