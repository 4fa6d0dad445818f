// PE/COFF images for UEFI Secure Boot: the Authenticode image hash (Microsoft's "Windows Authenticode
// Portable Executable Signature Format", as sbsign and osslsigncode compute it) and embedding a
// PKCS#7 SignedData as the image's certificate table, the way sbsign writes an attached signature.
import crypto from 'node:crypto';
import { DaemonError } from '../../../lib/errors.js';

/** Where the parts the hash skips are, and what it covers; offsets into the image. */
export interface PeLayout {
  /** Offset of the optional header's CheckSum (4 bytes, not hashed). */
  readonly checksumAt: number;
  /** Offset of the Security data-directory entry (8 bytes, not hashed). */
  readonly securityDirAt: number;
  readonly sizeOfHeaders: number;
  /** [PointerToRawData, SizeOfRawData] of each section with raw data, in file order. */
  readonly sections: ReadonlyArray<readonly [number, number]>;
  /** Bytes of an existing certificate table (0 when unsigned). */
  readonly certTableBytes: number;
}

const PE32 = 0x10b;
const PE32_PLUS = 0x20b;
/** IMAGE_DIRECTORY_ENTRY_SECURITY. */
const SECURITY_DIR = 4;
/** WIN_CERTIFICATE wRevision WIN_CERT_REVISION_2_0 and wCertificateType WIN_CERT_TYPE_PKCS_SIGNED_DATA. */
const WIN_CERT_REVISION_2_0 = 0x0200;
const WIN_CERT_TYPE_PKCS_SIGNED_DATA = 0x0002;
/** The certificate table starts, and each entry ends, on an 8-byte boundary (quadword alignment). */
const CERT_ALIGN = 8;
const SECTIONS_MAX = 96;

const bad = (why: string): DaemonError => new DaemonError('BAD_REQUEST', `not a usable PE/COFF image: ${why}`);

/** Reads and checks the headers; refuses anything whose hashed regions would fall outside the file. */
export function parsePe(image: Buffer): PeLayout {
  if (image.length < 0x40 || image.readUInt16LE(0) !== 0x5a4d) throw bad('no MZ header');
  const pe = image.readUInt32LE(0x3c);
  if (pe + 24 > image.length || image.readUInt32LE(pe) !== 0x00004550) throw bad('no PE signature');
  const sectionCount = image.readUInt16LE(pe + 6);
  const optionalBytes = image.readUInt16LE(pe + 20);
  const opt = pe + 24;
  if (opt + optionalBytes > image.length || optionalBytes < 2) throw bad('optional header outside the file');
  const magic = image.readUInt16LE(opt);
  if (magic !== PE32 && magic !== PE32_PLUS) throw bad('unknown optional header magic');
  const dirCountAt = opt + (magic === PE32 ? 92 : 108);
  const dirsAt = dirCountAt + 4;
  if (dirCountAt + 4 > opt + optionalBytes) throw bad('optional header too short');
  const dirCount = image.readUInt32LE(dirCountAt);
  const securityDirAt = dirsAt + SECURITY_DIR * 8;
  if (dirCount <= SECURITY_DIR || securityDirAt + 8 > opt + optionalBytes) throw bad('no certificate table directory entry');
  const sizeOfHeaders = image.readUInt32LE(opt + 60);
  const sectionTable = opt + optionalBytes;
  if (sectionCount > SECTIONS_MAX) throw bad(`more than ${SECTIONS_MAX} sections`);
  if (sectionTable + sectionCount * 40 > sizeOfHeaders || sizeOfHeaders > image.length) throw bad('headers outside the file');
  const certAt = image.readUInt32LE(securityDirAt);
  const certTableBytes = image.readUInt32LE(securityDirAt + 4);
  if (certTableBytes !== 0 && (certAt + certTableBytes !== image.length || certAt < sizeOfHeaders))
    throw bad('certificate table is not at the end of the file');
  const found: Array<{ pointer: number; size: number; index: number }> = [];
  for (let i = 0; i < sectionCount; i++) {
    const at = sectionTable + i * 40;
    const size = image.readUInt32LE(at + 16);
    const pointer = image.readUInt32LE(at + 20);
    if (size === 0) continue;
    if (pointer < sizeOfHeaders || pointer + size > image.length - certTableBytes) throw bad(`section ${i} outside the file`);
    found.push({ pointer, size, index: i });
  }
  found.sort((a, b) => a.pointer - b.pointer);
  // The hash covers each section's raw data once: sections sharing bytes (96 of them over the same
  // 64 MiB once took seconds) are refused, as linkers, objcopy and ukify never write them.
  for (let k = 1; k < found.length; k++) {
    const [before, after] = [found[k - 1]!, found[k]!];
    if (after.pointer < before.pointer + before.size) {
      const name = (s: { index: number }): string => `${s.index} (${sectionName(image, sectionTable + s.index * 40)})`;
      throw bad(`sections ${name(before)} and ${name(after)} overlap in the file`);
    }
  }
  const sections = found.map(({ pointer, size }): [number, number] => [pointer, size]);
  return { checksumAt: opt + 64, securityDirAt, sizeOfHeaders, sections, certTableBytes };
}

/** A section header's Name: up to 8 bytes, NUL-padded, shown printable. */
function sectionName(image: Buffer, header: number): string {
  const raw = image.subarray(header, header + 8);
  const end = raw.indexOf(0);
  return JSON.stringify(raw.toString('latin1', 0, end < 0 ? 8 : end).replace(/[^\x20-\x7e]/g, '?'));
}

/**
 * The Authenticode SHA-256 of an unsigned image as it will be once signed: headers without CheckSum and
 * the Security entry, sections in file order, then what follows them, with the file zero-padded to 8
 * bytes first (the padding is hashed, as sbsign and osslsigncode hash it).
 */
export function authenticodeDigest(image: Buffer, layout: PeLayout = parsePe(image)): Buffer {
  const hash = crypto.createHash('sha256');
  hash.update(image.subarray(0, layout.checksumAt));
  hash.update(image.subarray(layout.checksumAt + 4, layout.securityDirAt));
  hash.update(image.subarray(layout.securityDirAt + 8, layout.sizeOfHeaders));
  let hashed = layout.sizeOfHeaders;
  for (const [pointer, size] of layout.sections) {
    hash.update(image.subarray(pointer, pointer + size));
    hashed += size;
  }
  const end = image.length - layout.certTableBytes;
  // The specification (and both tools) continue at the count of bytes hashed, not at the end of the last section.
  if (hashed < end) hash.update(image.subarray(hashed, end));
  const padding = paddingTo(end, CERT_ALIGN);
  if (padding > 0) hash.update(Buffer.alloc(padding));
  return hash.digest();
}

/**
 * The image with `signedData` as its one certificate: file padded to 8 bytes, WIN_CERTIFICATE {dwLength,
 * wRevision 2.0, PKCS_SIGNED_DATA} + DER + padding, the Security entry pointing at it (padded size) and
 * the CheckSum recomputed: sbsign's attached output. An image that is already signed is refused.
 */
export function embedSignature(image: Buffer, signedData: Buffer, layout: PeLayout = parsePe(image)): Buffer {
  if (layout.certTableBytes !== 0) throw new DaemonError('BAD_REQUEST', 'the PE image is already signed; send the unsigned image');
  const certAt = image.length + paddingTo(image.length, CERT_ALIGN);
  const entryBytes = 8 + signedData.length;
  const tableBytes = entryBytes + paddingTo(entryBytes, CERT_ALIGN);
  const out = Buffer.alloc(certAt + tableBytes);
  image.copy(out);
  out.writeUInt32LE(entryBytes, certAt);
  out.writeUInt16LE(WIN_CERT_REVISION_2_0, certAt + 4);
  out.writeUInt16LE(WIN_CERT_TYPE_PKCS_SIGNED_DATA, certAt + 6);
  signedData.copy(out, certAt + 8);
  out.writeUInt32LE(certAt, layout.securityDirAt);
  out.writeUInt32LE(tableBytes, layout.securityDirAt + 4);
  out.writeUInt32LE(0, layout.checksumAt);
  out.writeUInt32LE(peChecksum(out), layout.checksumAt);
  return out;
}

/** The optional header CheckSum (imagehlp's CheckSumMappedFile): 16-bit one's-complement-style sum with carries folded, plus the length. */
function peChecksum(file: Buffer): number {
  let sum = 0;
  const words = file.length >> 1;
  for (let i = 0; i < words; i++) {
    sum += file.readUInt16LE(i * 2);
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  if (file.length & 1) {
    sum += file[file.length - 1]!;
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  return ((sum & 0xffff) + file.length) >>> 0;
}

function paddingTo(bytes: number, align: number): number {
  return (align - (bytes % align)) % align;
}
