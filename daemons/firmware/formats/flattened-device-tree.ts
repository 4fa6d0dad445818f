// A flattened device tree (DTB, the container of a U-Boot FIT image) edited in place as libfdt edits
// it: the same offsets, the same insertion points and the same memmove splices, so that a FIT signed
// here has the bytes `mkimage -F` writes. Offsets are relative to the structure block, as libfdt's are.
import { DaemonError } from '../../../lib/errors.js';

const FDT_MAGIC = 0xd00dfeed;
/** dtc's format; libfdt's writer converts anything older to it. Older blobs are refused here. */
const FDT_VERSION = 17;
const FDT_LAST_COMPATIBLE_VERSION = 16;
const HEADER_BYTES = 40;
const RESERVE_ENTRY_BYTES = 16;
/** Deeper than any FIT; libfdt's region walk stops at 32 too. */
const DEPTH_MAX = 32;
/**
 * Far more than any FIT (a kernel, hundreds of device trees, their hash nodes), and small enough that
 * walking the tree again after each edit stays cheap: a blob is a request's input, not trusted.
 */
const NODES_MAX = 4096;
const PROPERTIES_MAX = 65536;
/**
 * FDT_NOP tags (what fdt_nop_property and fdt_nop_node leave; dtc and mkimage write none) cost a walk
 * as much as properties do, so they are bounded as properties are: without a bound, a few MiB of NOPs
 * made every walk of the tree as long as the upload allowed.
 */
const NOPS_MAX = 65536;
/**
 * Tags read while one blob is signed, all walks together. Signing walks the tree again for each
 * configuration signature (its regions, as mkimage does), so the work is signatures × tags; this bounds
 * it to well under a second on the event loop, far above what a FIT of hundreds of device trees takes.
 */
const TAG_READS_MAX = 16 * 1024 * 1024;
/**
 * Each insertion moves every byte after it, as libfdt does (a FIT with hundreds of device trees
 * before a 30 MiB initramfs moves a few GiB, well under a second). This bounds what one upload can
 * make the daemon move: about a second of memmove on the event loop.
 */
const MOVED_BYTES_MAX = 16 * 1024 ** 3;

export const FDT_BEGIN_NODE = 1;
export const FDT_END_NODE = 2;
export const FDT_PROP = 3;
export const FDT_NOP = 4;
export const FDT_END = 9;

// Header fields (byte offsets).
const TOTALSIZE = 4;
const OFF_STRUCT = 8;
const OFF_STRINGS = 12;
const OFF_RSVMAP = 16;
const VERSION = 20;
const LAST_COMP_VERSION = 24;
const SIZE_STRINGS = 32;
const SIZE_STRUCT = 36;

/** A tree being edited: the whole blob, its free space at the end (totalsize is buf.length). */
export interface Fdt {
  buf: Buffer;
  /** The furthest the data has reached (struct and strings): the smallest totalsize every edit so far fits in. */
  highWater: number;
  /** Bytes the edits have moved so far (bounded by MOVED_BYTES_MAX). */
  moved: number;
  /** Tags read so far, by every walk (bounded by TAG_READS_MAX). */
  tagReads: number;
}

function invalid(text: string): DaemonError {
  return new DaemonError('BAD_REQUEST', `not a valid FIT (device tree): ${text}`);
}

const field = (fdt: Fdt, at: number): number => fdt.buf.readUInt32BE(at);
const setField = (fdt: Fdt, at: number, value: number): void => void fdt.buf.writeUInt32BE(value, at);
const structBase = (fdt: Fdt): number => field(fdt, OFF_STRUCT);
/** The end of the data (struct then strings, as in a packed blob): where free space starts. */
const dataEnd = (fdt: Fdt): number => field(fdt, OFF_STRINGS) + field(fdt, SIZE_STRINGS);
const align4 = (n: number): number => (n + 3) & ~3;

/** Where a blob's blocks are, checked against its header and its length. */
interface Layout {
  rsvOff: number;
  rsvSize: number;
  structOff: number;
  structSize: number;
  stringsOff: number;
  stringsSize: number;
  /** Header, reservation map, structure and strings in that order with no gaps (what dtc and mkimage write). */
  inOrder: boolean;
}

function layoutOf(blob: Buffer): Layout {
  if (blob.length < HEADER_BYTES) throw invalid('shorter than its header');
  const header = { buf: blob, highWater: 0, moved: 0, tagReads: 0 };
  if (field(header, 0) !== FDT_MAGIC) throw invalid('no device tree magic');
  const version = field(header, VERSION);
  if (version !== FDT_VERSION) throw invalid(`version ${version}; only version ${FDT_VERSION} (what dtc and mkimage write) is taken`);
  const total = field(header, TOTALSIZE);
  if (total > blob.length || total < HEADER_BYTES) throw invalid(`totalsize ${total} does not fit the ${blob.length}-byte file`);
  const block = (offAt: number, size: number, name: string): [number, number] => {
    const off = field(header, offAt);
    if (off < HEADER_BYTES || off + size > total) throw invalid(`${name} block outside the blob`);
    return [off, size];
  };
  const [structOff, structSize] = block(OFF_STRUCT, field(header, SIZE_STRUCT), 'structure');
  const [stringsOff, stringsSize] = block(OFF_STRINGS, field(header, SIZE_STRINGS), 'strings');
  const rsvOff = field(header, OFF_RSVMAP);
  if (rsvOff < HEADER_BYTES || rsvOff % 8 !== 0) throw invalid('memory reservation map misplaced');
  let rsvSize = 0;
  for (;;) {
    if (rsvOff + rsvSize + RESERVE_ENTRY_BYTES > total) throw invalid('memory reservation map not terminated');
    const entry = blob.subarray(rsvOff + rsvSize, rsvOff + rsvSize + RESERVE_ENTRY_BYTES);
    rsvSize += RESERVE_ENTRY_BYTES;
    if (entry.every((b) => b === 0)) break;
  }
  const inOrder = rsvOff === HEADER_BYTES && structOff === rsvOff + rsvSize && stringsOff === structOff + structSize;
  return { rsvOff, rsvSize, structOff, structSize, stringsOff, stringsSize, inOrder };
}

/**
 * fdt_open_into + fdt_pack, as mkimage applies them to a FIT before signing it: the header, the
 * memory reservation map, the structure block and the strings, in that order with no gaps (totalsize
 * is set by `withRoom`). A blob already laid out so (dtc's and mkimage's) is returned as a view, not
 * copied. The whole structure is checked on the way (every tag, name and string in bounds, nodes
 * balanced, one root).
 */
export function packFdt(blob: Buffer): Buffer {
  const { rsvOff, rsvSize, structOff, structSize, stringsOff, stringsSize, inOrder } = layoutOf(blob);
  if (inOrder) {
    const view = blob.subarray(0, stringsOff + stringsSize);
    checkStructure({ buf: view, highWater: view.length, moved: 0, tagReads: 0 });
    return view;
  }
  const rsvAt = HEADER_BYTES;
  const structAt = rsvAt + rsvSize;
  const stringsAt = structAt + structSize;
  const packed = Buffer.alloc(stringsAt + stringsSize);
  blob.copy(packed, 0, 0, HEADER_BYTES);
  blob.copy(packed, rsvAt, rsvOff, rsvOff + rsvSize);
  blob.copy(packed, structAt, structOff, structOff + structSize);
  blob.copy(packed, stringsAt, stringsOff, stringsOff + stringsSize);
  const fdt = { buf: packed, highWater: packed.length, moved: 0, tagReads: 0 };
  // fdt_open_into's reordering path rewrites the versions; its in-order path keeps them.
  setField(fdt, LAST_COMP_VERSION, FDT_LAST_COMPATIBLE_VERSION);
  setField(fdt, OFF_RSVMAP, rsvAt);
  setField(fdt, OFF_STRUCT, structAt);
  setField(fdt, OFF_STRINGS, stringsAt);
  checkStructure(fdt);
  return packed;
}

/** A copy of a packed blob with `extra` zero bytes of free space (mkimage's ftruncate + fdt_open_into: totalsize the new size). */
export function withRoom(packed: Buffer, extra: number): Fdt {
  const buf = Buffer.allocUnsafe(packed.length + extra);
  packed.copy(buf);
  buf.fill(0, packed.length);
  const fdt = { buf, highWater: 0, moved: 0, tagReads: 0 };
  fdt.highWater = dataEnd(fdt);
  setField(fdt, TOTALSIZE, buf.length);
  return fdt;
}

/**
 * A device tree to add keys to, taken as it is (mkimage -K edits the file in place, free space and
 * all): version 17, blocks in dtc's order, totalsize the file's length. Checked like a FIT.
 */
export function openDeviceTree(blob: Buffer): Buffer {
  const layout = layoutOf(blob);
  if (!layout.inOrder || blob.readUInt32BE(TOTALSIZE) !== blob.length) {
    throw invalid('the device tree must be laid out as dtc writes it (header, reservations, structure, strings), totalsize its length');
  }
  checkStructure({ buf: blob, highWater: blob.length, moved: 0, tagReads: 0 });
  return blob;
}

/**
 * The edited blob cut to `size` bytes, its totalsize set to it: what the same edits give in a blob
 * of that size from the start, as long as `size` ≥ highWater (no edit moved a byte past it).
 */
export function truncated(fdt: Fdt, size: number): Buffer {
  if (size < fdt.highWater || size > fdt.buf.length) throw new DaemonError('INTERNAL', `cannot cut the device tree to ${size} bytes`);
  const buf = fdt.buf.subarray(0, size);
  buf.writeUInt32BE(size, TOTALSIZE);
  return buf;
}

function checkStructure(fdt: Fdt): void {
  let offset = 0;
  let depth = -1;
  let roots = 0;
  let nodes = 0;
  let props = 0;
  let nops = 0;
  for (;;) {
    const { tag, next } = nextTag(fdt, offset);
    if (tag === FDT_BEGIN_NODE) {
      if (++nodes > NODES_MAX) throw invalid(`more than ${NODES_MAX} nodes`);
      if (depth === -1 && ++roots > 1) throw invalid('more than one root node');
      if (++depth >= DEPTH_MAX) throw invalid(`nodes nested deeper than ${DEPTH_MAX}`);
    } else if (tag === FDT_END_NODE) {
      if (--depth < -1) throw invalid('unbalanced end of node');
    } else if (tag === FDT_PROP) {
      if (++props > PROPERTIES_MAX) throw invalid(`more than ${PROPERTIES_MAX} properties`);
      if (depth < 0) throw invalid('a property outside the root node');
      propertyName(fdt, offset);
    } else if (tag === FDT_NOP) {
      if (++nops > NOPS_MAX) throw invalid(`more than ${NOPS_MAX} NOP tags`);
    } else if (tag === FDT_END) {
      if (depth !== -1 || roots !== 1) throw invalid('structure ends inside a node');
      if (next !== field(fdt, SIZE_STRUCT)) throw invalid('data after the end tag');
      return;
    }
    offset = next;
  }
}

/** fdt_next_tag: the tag at `offset` and the offset of the one after it; out-of-bounds content is BAD_REQUEST. */
export function nextTag(fdt: Fdt, offset: number): { tag: number; next: number } {
  const size = field(fdt, SIZE_STRUCT);
  const base = structBase(fdt);
  if (offset < 0 || offset % 4 !== 0 || offset + 4 > size) throw invalid('structure block ends without an end tag');
  if (++fdt.tagReads > TAG_READS_MAX) {
    throw new DaemonError(
      'BAD_REQUEST',
      `not signed: its structure would be walked over more than ${TAG_READS_MAX} tags (too many signature nodes in too large a tree)`,
    );
  }
  const tag = fdt.buf.readUInt32BE(base + offset);
  let end = offset + 4;
  if (tag === FDT_BEGIN_NODE) {
    const nul = fdt.buf.indexOf(0, base + end);
    if (nul < 0 || nul >= base + size) throw invalid('node name not terminated');
    end = nul - base + 1;
  } else if (tag === FDT_PROP) {
    if (end + 8 > size) throw invalid('property header past the structure block');
    end += 8 + fdt.buf.readUInt32BE(base + end);
  } else if (tag !== FDT_END_NODE && tag !== FDT_NOP && tag !== FDT_END) {
    throw invalid(`unknown tag ${tag}`);
  }
  if (end > size) throw invalid('structure block ends inside a tag');
  return { tag, next: align4(end) };
}

/** The name of the node whose FDT_BEGIN_NODE is at `node`. */
export function nodeName(fdt: Fdt, node: number): string {
  const at = structBase(fdt) + node + 4;
  return fdt.buf.toString('latin1', at, fdt.buf.indexOf(0, at));
}

/** fdt_next_node: the next FDT_BEGIN_NODE after `node`, tracking depth; null past the end or out of the start's depth. */
function nextNode(fdt: Fdt, node: number, depth: { value: number }): number | null {
  let offset = nextTag(fdt, node).next;
  for (;;) {
    const { tag, next } = nextTag(fdt, offset);
    if (tag === FDT_BEGIN_NODE) {
      depth.value++;
      return offset;
    }
    if (tag === FDT_END_NODE && --depth.value < 0) return null;
    if (tag === FDT_END) return null;
    offset = next;
  }
}

/** The offsets of a node's direct subnodes, in order (fdt_first_subnode / fdt_next_subnode). */
export function subnodes(fdt: Fdt, parent: number): number[] {
  const found: number[] = [];
  const depth = { value: 0 };
  let node = nextNode(fdt, parent, depth);
  while (node !== null && depth.value >= 1) {
    if (depth.value === 1) found.push(node);
    node = nextNode(fdt, node, depth);
  }
  return found;
}

/** fdt_subnode_offset: by exact name, or by the name before a unit address (`kernel` finds `kernel@1`). */
export function subnode(fdt: Fdt, parent: number, name: string): number | null {
  // Stops at the match, as libfdt does, rather than walking the rest of the parent.
  const depth = { value: 0 };
  let node = nextNode(fdt, parent, depth);
  while (node !== null && depth.value >= 1) {
    if (depth.value === 1) {
      const own = nodeName(fdt, node);
      if (own === name || (!name.includes('@') && own.startsWith(`${name}@`))) return node;
    }
    node = nextNode(fdt, node, depth);
  }
  return null;
}

/** fdt_path_offset for an absolute path without aliases ("/", "/images"). */
export function pathOffset(fdt: Fdt, path: string): number | null {
  let node: number | null = 0;
  for (const part of path.split('/').filter((p) => p.length > 0)) {
    if (node === null) return null;
    node = subnode(fdt, node, part);
  }
  return node;
}

/** fdt_get_path: the node's full path ("/images/kernel-1"). */
export function nodePath(fdt: Fdt, node: number): string {
  const stack: string[] = [];
  let offset = 0;
  for (;;) {
    const { tag, next } = nextTag(fdt, offset);
    if (tag === FDT_BEGIN_NODE) {
      stack.push(nodeName(fdt, offset));
      if (offset === node) return `/${stack.slice(1).join('/')}`;
    } else if (tag === FDT_END_NODE) stack.pop();
    else if (tag === FDT_END) throw new DaemonError('INTERNAL', `no node at offset ${node}`);
    offset = next;
  }
}

/** The name of the property whose FDT_PROP tag is at `offset` (its string in the strings block). */
export function propertyName(fdt: Fdt, offset: number): string {
  const nameoff = fdt.buf.readUInt32BE(structBase(fdt) + offset + 8);
  const stringsSize = field(fdt, SIZE_STRINGS);
  const at = field(fdt, OFF_STRINGS) + nameoff;
  const nul = fdt.buf.indexOf(0, at);
  if (nameoff >= stringsSize || nul < 0 || nul >= field(fdt, OFF_STRINGS) + stringsSize) throw invalid('property name outside the strings block');
  return fdt.buf.toString('latin1', at, nul);
}

/** The offsets of a node's properties: the FDT_PROP tags before its first subnode, NOPs skipped. */
function properties(fdt: Fdt, node: number): number[] {
  const found: number[] = [];
  let offset = nextTag(fdt, node).next;
  for (;;) {
    const { tag, next } = nextTag(fdt, offset);
    if (tag === FDT_PROP) found.push(offset);
    else if (tag !== FDT_NOP) return found;
    offset = next;
  }
}

function findProperty(fdt: Fdt, node: number, name: string): number | null {
  return properties(fdt, node).find((offset) => propertyName(fdt, offset) === name) ?? null;
}

/**
 * fdt_getprop: the property's value, or null when the node has no such property. A view into the
 * blob, as libfdt's pointer is: read it before the next edit moves it.
 */
export function getProp(fdt: Fdt, node: number, name: string): Buffer | null {
  const offset = findProperty(fdt, node, name);
  if (offset === null) return null;
  const at = structBase(fdt) + offset + 12;
  return fdt.buf.subarray(at, at + fdt.buf.readUInt32BE(at - 8));
}

/** A property read as one NUL-terminated string (FIT's `algo`, `key-name-hint`), or null. */
export function getString(fdt: Fdt, node: number, name: string): string | null {
  const value = getProp(fdt, node, name);
  if (value === null || value.length === 0 || value[value.length - 1] !== 0) return null;
  return value.toString('latin1', 0, value.length - 1);
}

/** A string-list property (fdt_stringlist_get for every index); null if absent, BAD_REQUEST if not terminated. */
export function getStringList(fdt: Fdt, node: number, name: string): string[] | null {
  const value = getProp(fdt, node, name);
  if (value === null) return null;
  if (value.length > 0 && value[value.length - 1] !== 0) throw invalid(`property ${name} is not a list of strings`);
  return value.length === 0 ? [] : value.toString('latin1', 0, value.length - 1).split('\0');
}

/**
 * fdt_splice_: moves what follows `at` (absolute) so that `oldLength` bytes there become `newLength`.
 * The blob holds all the room mkimage would ever give it (the caller cuts it to size afterwards), so
 * running out of it is the request's fault, as mkimage giving up is.
 */
function splice(fdt: Fdt, at: number, oldLength: number, newLength: number): void {
  const end = dataEnd(fdt);
  const newEnd = end - oldLength + newLength;
  if (newEnd > fdt.buf.length) {
    throw new DaemonError(
      'BAD_REQUEST',
      `not signed: the new properties need a device tree of more than ${fdt.buf.length} bytes, more room than mkimage gives one`,
    );
  }
  if (oldLength !== newLength) {
    fdt.moved += end - at - oldLength;
    if (fdt.moved > MOVED_BYTES_MAX) {
      throw new DaemonError(
        'BAD_REQUEST',
        `not signed: its nodes would need more than ${MOVED_BYTES_MAX} bytes moved (too many hash or signature nodes after large images)`,
      );
    }
    fdt.buf.copyWithin(at + newLength, at + oldLength, end);
  }
  fdt.highWater = Math.max(fdt.highWater, newEnd);
}

function spliceStruct(fdt: Fdt, offset: number, oldLength: number, newLength: number): void {
  splice(fdt, structBase(fdt) + offset, oldLength, newLength);
  const delta = newLength - oldLength;
  setField(fdt, SIZE_STRUCT, field(fdt, SIZE_STRUCT) + delta);
  setField(fdt, OFF_STRINGS, field(fdt, OFF_STRINGS) + delta);
}

/** fdt_find_add_string_: the offset of `name` in the strings block (any byte position matches), appended if absent. */
function findOrAddString(fdt: Fdt, name: string): number {
  const strings = fdt.buf.subarray(field(fdt, OFF_STRINGS), dataEnd(fdt));
  const wanted = Buffer.from(`${name}\0`, 'latin1');
  const found = strings.indexOf(wanted);
  if (found >= 0) return found;
  splice(fdt, dataEnd(fdt), 0, wanted.length);
  wanted.copy(fdt.buf, dataEnd(fdt));
  setField(fdt, SIZE_STRINGS, field(fdt, SIZE_STRINGS) + wanted.length);
  return strings.length;
}

/**
 * fdt_setprop: an existing property is resized in place; a new one goes first among the node's
 * properties, its name appended to the strings if new. As in libfdt, the padding after a value that
 * is not a multiple of 4 keeps whatever bytes the splice left there. The node's offset stays valid;
 * offsets after it move.
 */
export function setProp(fdt: Fdt, node: number, name: string, value: Buffer): void {
  const existing = findProperty(fdt, node, name);
  const base = structBase(fdt);
  if (existing !== null) {
    const oldLength = fdt.buf.readUInt32BE(base + existing + 4);
    spliceStruct(fdt, existing + 12, align4(oldLength), align4(value.length));
    fdt.buf.writeUInt32BE(value.length, base + existing + 4);
    value.copy(fdt.buf, base + existing + 12);
    return;
  }
  const nameoff = findOrAddString(fdt, name);
  // Right after FDT_BEGIN_NODE and the node's name: libfdt inserts a new property before the others.
  const at = nextTag(fdt, node).next;
  spliceStruct(fdt, at, 0, 12 + align4(value.length));
  const abs = structBase(fdt) + at;
  fdt.buf.writeUInt32BE(FDT_PROP, abs);
  fdt.buf.writeUInt32BE(value.length, abs + 4);
  fdt.buf.writeUInt32BE(nameoff, abs + 8);
  value.copy(fdt.buf, abs + 12);
}

/** fdt_add_subnode: a new empty node named `name`, placed first among the parent's subnodes (right after its properties); its offset. */
export function addSubnode(fdt: Fdt, parent: number, name: string): number {
  let offset = nextTag(fdt, parent).next;
  for (;;) {
    const { tag, next } = nextTag(fdt, offset);
    if (tag !== FDT_PROP && tag !== FDT_NOP) break;
    offset = next;
  }
  const nameBytes = Buffer.from(`${name}\0`, 'latin1');
  const length = 4 + align4(nameBytes.length) + 4;
  spliceStruct(fdt, offset, 0, length);
  const at = structBase(fdt) + offset;
  fdt.buf.writeUInt32BE(FDT_BEGIN_NODE, at);
  fdt.buf.fill(0, at + 4, at + length - 4);
  nameBytes.copy(fdt.buf, at + 4);
  fdt.buf.writeUInt32BE(FDT_END_NODE, at + length - 4);
  return offset;
}

/** fdt_setprop_string: the string and its NUL. */
export function setString(fdt: Fdt, node: number, name: string, value: string): void {
  setProp(fdt, node, name, Buffer.from(`${value}\0`, 'latin1'));
}

/** The size of the structure block now: an edit inside a node moves what follows the node by its change. */
export function structSize(fdt: Fdt): number {
  return field(fdt, SIZE_STRUCT);
}

/** The size of the strings block now (what a FIT configuration signature records as hashed-strings). */
export function stringsSize(fdt: Fdt): number {
  return field(fdt, SIZE_STRINGS);
}

/** The structure block's absolute offset (FIT region hashing works in absolute offsets). */
export function structOffset(fdt: Fdt): number {
  return structBase(fdt);
}
