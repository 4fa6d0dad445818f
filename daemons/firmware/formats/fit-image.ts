// U-Boot FIT image signing, as `mkimage -F -k <keydir> [-o algo] [-c comment]` re-signs a FIT built
// by `mkimage -f`: every image's hash nodes computed, every image and configuration signature node
// signed (a configuration over the device-tree regions U-Boot hashes again at boot), with mkimage's
// bytes: the blob packed, then grown by the first multiple of 1 KiB the new properties fit in.
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import type { DigestScheme } from '../../../lib/crypto/digest-schemes.js';
import { DaemonError } from '../../../lib/errors.js';
import type { DigestSigner } from './digest-signer.js';
import { addFitKeyNode } from './fit-key-node.js';
import {
  FDT_BEGIN_NODE,
  FDT_END,
  FDT_END_NODE,
  FDT_NOP,
  FDT_PROP,
  getProp,
  getString,
  getStringList,
  nextTag,
  openDeviceTree,
  nodeName,
  nodePath,
  packFdt,
  pathOffset,
  propertyName,
  setProp,
  setString,
  stringsSize,
  structOffset,
  structSize,
  subnodes,
  truncated,
  withRoom,
  type Fdt,
} from './flattened-device-tree.js';

export interface FitSigningOptions {
  /** mkimage -o: the algorithm of every signature node (also written into each); null: each node's own `algo`. */
  algo: string | null;
  /** mkimage -c: a comment written into each signature node; null for none. */
  comment: string | null;
  /** The signatures' `timestamp`, seconds since the epoch (mkimage: SOURCE_DATE_EPOCH or now). */
  timestamp: number;
  /** `signer-name` and `signer-version` of each signature node (mkimage writes "mkimage" and its version). */
  signerName: string;
  signerVersion: string;
  /**
   * mkimage -K: a device tree (U-Boot's) to receive the public key of every signature made, as
   * `/signature/key-<name>` nodes; null for none. RSA keys only.
   */
  keyDestination: Buffer | null;
  /** mkimage -r: mark those keys `required` (for the image or the configuration they signed). */
  requireKeys: boolean;
}

/** One signature node signed: its path, the key it names and the algorithm. */
export interface FitSignature {
  path: string;
  keyName: string;
  algo: string;
}

/** The key a signature node names (its `key-name-hint`); the caller refuses names it does not serve. */
export type FitKeyLookup = (keyName: string, nodePath: string) => DigestSigner;

/** mkimage stops growing the blob here (64 KiB of new properties). */
const GROWTH_MAX = 64 * 1024;
const GROWTH_STEP = 1024;
/** What a configuration signature never covers: the images' data, which their hash nodes cover instead. */
const EXCLUDED_PROPERTIES = ['data'];
/** Without `sign-images`, a configuration signs its kernel and fdt, whichever it has. */
const DEFAULT_SIGNED_IMAGES = ['kernel', 'fdt'];
/** Image hash nodes mkimage computes, with how. crc32 is big-endian, as U-Boot stores it. */
const HASHES: Record<string, (data: Buffer) => Buffer> = {
  crc32: (data) => {
    const out = Buffer.alloc(4);
    out.writeUInt32BE(zlib.crc32(data));
    return out;
  },
  md5: (data) => crypto.createHash('md5').update(data).digest(),
  sha1: (data) => crypto.createHash('sha1').update(data).digest(),
  sha256: (data) => crypto.createHash('sha256').update(data).digest(),
  sha384: (data) => crypto.createHash('sha384').update(data).digest(),
  sha512: (data) => crypto.createHash('sha512').update(data).digest(),
};
/** The hashes strong enough to carry a configuration signature over an image. */
const STRONG_HASHES = new Set(['sha256', 'sha384', 'sha512']);
const RSA_SCHEMES: Record<string, DigestScheme> = { sha256: 'rsa-pkcs1-sha256', sha384: 'rsa-pkcs1-sha384', sha512: 'rsa-pkcs1-sha512' };

/**
 * Signs every signature node of `fit` and returns the signed blob. Refused (BAD_REQUEST unless
 * said): a blob that is not a version-17 device tree, no /images or /configurations, no signature
 * node at all, a node without `key-name-hint`, an algorithm other than sha256/384/512 with
 * rsa2048/3072/4096 or sha256,ecdsa256 (PSS padding, other ECDSA curves and encrypted images:
 * NOT_IMPLEMENTED), a key of another size or curve, external data (NOT_IMPLEMENTED), a configuration
 * that signs no image or an image without a SHA-2 hash node. Every signature verified before it is
 * written (DigestSigner).
 */
export async function signFitImage(
  fit: Buffer,
  keyFor: FitKeyLookup,
  opts: FitSigningOptions,
): Promise<{ image: Buffer; signatures: FitSignature[]; keyDestination: Buffer | null }> {
  const packed = packFdt(fit);
  // mkimage tries again with 1 KiB more room until every edit fits: the FIT is restored each time and
  // grown by that step; the key destination is not restored and grows by each step in turn. One pass
  // in blobs with all the room gives the same bytes, cut to the sizes of the first try that fits.
  const fdt = withRoom(packed, GROWTH_MAX - GROWTH_STEP);
  const destination = opts.keyDestination === null ? null : openDeviceTree(opts.keyDestination);
  const keyFdt = destination === null ? null : withRoom(destination, keyDestinationSize(destination.length, GROWTH_MAX / GROWTH_STEP - 1) - destination.length);
  const signatures = await signPass(fdt, keyFdt, keyFor, opts);
  // Both blobs hold the room of mkimage's last try, so the first try that fits is one of its tries.
  let tries = Math.ceil(Math.max(0, fdt.highWater - packed.length) / GROWTH_STEP);
  while (destination !== null && keyDestinationSize(destination.length, tries) < keyFdt!.highWater) tries++;
  return {
    image: truncated(fdt, packed.length + tries * GROWTH_STEP),
    signatures,
    keyDestination: destination === null ? null : truncated(keyFdt!, keyDestinationSize(destination.length, tries)),
  };
}

/** The key destination's size at mkimage's try `tries` (0-based): grown by 1 KiB, then 2 KiB, ... */
function keyDestinationSize(initial: number, tries: number): number {
  return initial + (GROWTH_STEP * tries * (tries + 1)) / 2;
}

/** mkimage's fit_add_verification_data: the signatures made. */
async function signPass(fdt: Fdt, keyFdt: Fdt | null, keyFor: FitKeyLookup, opts: FitSigningOptions): Promise<FitSignature[]> {
  // fit_image_process_sig / fit_config_process_sig: after a signature is written, its key goes to the key destination.
  const addKey = (plan: SignaturePlan, kind: 'image' | 'conf'): void => {
    if (keyFdt === null) return;
    addFitKeyNode(keyFdt, { keyName: plan.keyName, algo: plan.algo, publicKey: plan.signer.publicKey, required: opts.requireKeys ? kind : null });
  };
  const images = pathOffset(fdt, '/images');
  if (images === null) throw new DaemonError('BAD_REQUEST', 'not a FIT image: no /images node');
  const imagesPath = nodePath(fdt, images);
  const signatures: FitSignature[] = [];
  await eachSubnode(fdt, images, async (image) => {
    const imagePath = `${imagesPath}/${nodeName(fdt, image)}`;
    // A view of the image's data. Only its subnodes are edited below, and a node's subnodes follow all
    // of its properties, so the data does not move while they are; each digest of it is made once.
    const data = imageData(fdt, image, imagePath);
    const digests = new Map<string, Buffer>();
    const digestOf = (algo: string, hash: (data: Buffer) => Buffer): Buffer => {
      let digest = digests.get(algo);
      if (!digest) {
        digest = hash(data);
        digests.set(algo, digest);
      }
      return digest;
    };
    await eachSubnode(fdt, image, async (node) => {
      const name = nodeName(fdt, node);
      const where = `${imagePath}/${name}`;
      if (name.startsWith('hash')) {
        const algo = getString(fdt, node, 'algo');
        const hash = algo === null ? undefined : Object.hasOwn(HASHES, algo) ? HASHES[algo] : undefined;
        if (!hash) throw new DaemonError('BAD_REQUEST', `${where}: hash algo ${JSON.stringify(algo)} is not one of ${Object.keys(HASHES).join(', ')}`);
        setProp(fdt, node, 'value', digestOf(algo!, hash));
      } else if (name.startsWith('signature')) {
        const plan = signaturePlan(fdt, node, where, keyFor, opts);
        const value = await plan.signer.sign(plan.scheme, digestOf(plan.digest, HASHES[plan.digest]!));
        writeSignature(fdt, node, value, null, opts);
        addKey(plan, 'image');
        signatures.push({ path: where, keyName: plan.keyName, algo: plan.algo });
      } else if (name === 'cipher') {
        throw new DaemonError('NOT_IMPLEMENTED', `${where}: encrypted FIT images are not supported`);
      }
    });
  });
  const configurations = pathOffset(fdt, '/configurations');
  if (configurations === null) throw new DaemonError('BAD_REQUEST', 'not a FIT image: no /configurations node');
  const configurationsPath = nodePath(fdt, configurations);
  await eachSubnode(fdt, configurations, async (config) => {
    const configPath = `${configurationsPath}/${nodeName(fdt, config)}`;
    await eachSubnode(fdt, config, async (node) => {
      const name = nodeName(fdt, node);
      if (!name.startsWith('signature')) return;
      const where = `${configPath}/${name}`;
      const plan = signaturePlan(fdt, node, where, keyFor, opts);
      const hashedNodes = configurationNodes(fdt, config, node, where);
      const hash = crypto.createHash(plan.digest);
      for (const region of findRegions(fdt, hashedNodes)) hash.update(fdt.buf.subarray(region.offset, region.offset + region.size));
      const value = await plan.signer.sign(plan.scheme, hash.digest());
      writeSignature(fdt, node, value, hashedNodes, opts);
      addKey(plan, 'conf');
      signatures.push({ path: where, keyName: plan.keyName, algo: plan.algo });
    });
  });
  if (signatures.length === 0)
    throw new DaemonError('BAD_REQUEST', 'the FIT has no signature nodes: nothing to sign (add signature nodes with key-name-hint to the .its)');
  return signatures;
}

/**
 * Calls `visit` on each direct subnode of `parent` in order, the subnodes found by one walk. `visit` may
 * edit only inside the node it is given (and other blobs): that keeps the node's own offset and moves
 * the siblings after it by the change in the structure's size. Finding the subnodes again after each
 * edit walked the whole parent once per child, which a parent padded with NOP tags made unbounded.
 */
async function eachSubnode(fdt: Fdt, parent: number, visit: (node: number) => Promise<void>): Promise<void> {
  const nodes = subnodes(fdt, parent);
  let shift = 0;
  for (const node of nodes) {
    const before = structSize(fdt);
    await visit(node + shift);
    shift += structSize(fdt) - before;
  }
}

/** An image's embedded `data`; external data (data-offset, data-position) is refused. */
function imageData(fdt: Fdt, image: number, where: string): Buffer {
  const data = getProp(fdt, image, 'data');
  if (data !== null) return data;
  if (getProp(fdt, image, 'data-offset') !== null || getProp(fdt, image, 'data-position') !== null) {
    throw new DaemonError('NOT_IMPLEMENTED', `${where}: FIT images with external data (mkimage -E) are not supported`);
  }
  throw new DaemonError('BAD_REQUEST', `${where} has no data`);
}

interface SignaturePlan {
  signer: DigestSigner;
  scheme: DigestScheme;
  digest: 'sha256' | 'sha384' | 'sha512';
  keyName: string;
  algo: string;
}

/** What a signature node asks for (fit_image_setup_sig), checked against the key it names. */
function signaturePlan(fdt: Fdt, node: number, where: string, keyFor: FitKeyLookup, opts: FitSigningOptions): SignaturePlan {
  const algo = opts.algo ?? getString(fdt, node, 'algo');
  if (algo === null) throw new DaemonError('BAD_REQUEST', `${where} has no algo`);
  const keyName = getString(fdt, node, 'key-name-hint');
  if (keyName === null) throw new DaemonError('BAD_REQUEST', `${where} has no key-name-hint`);
  const padding = getString(fdt, node, 'padding');
  if (padding !== null && padding !== 'pkcs-1.5') throw new DaemonError('NOT_IMPLEMENTED', `${where}: padding ${padding} is not supported (pkcs-1.5 is)`);
  const match = /^(sha\d+),(rsa|ecdsa)(\d+)$/.exec(algo);
  if (!match) throw new DaemonError('BAD_REQUEST', `${where}: algo ${JSON.stringify(algo)} is not <hash>,<crypto> (e.g. sha256,rsa2048)`);
  const [, digest = '', family = '', bits = ''] = match;
  if (family === 'ecdsa') {
    // U-Boot's ecdsa256: r‖s over the SHA-256 digest with a P-256 key. Its other curves need digest schemes the key seam has not.
    if (opts.keyDestination !== null) {
      throw new DaemonError('NOT_IMPLEMENTED', `${where}: writing an ECDSA public key into a device tree (dtb, mkimage -K) is not supported`);
    }
    if (algo !== 'sha256,ecdsa256')
      throw new DaemonError('NOT_IMPLEMENTED', `${where}: algo ${algo}: of the ECDSA algorithms only sha256,ecdsa256 is supported`);
    const signer = keyFor(keyName, where);
    if (signer.curve !== 'prime256v1')
      throw new DaemonError('BAD_REQUEST', `${where}: algo ${algo} needs a P-256 key; key ${keyName} is ${signer.description}`);
    return { signer, scheme: 'ecdsa-sha256', digest: 'sha256', keyName, algo };
  }
  const scheme = Object.hasOwn(RSA_SCHEMES, digest) ? RSA_SCHEMES[digest] : undefined;
  if (!scheme || !['2048', '3072', '4096'].includes(bits)) {
    throw new DaemonError('BAD_REQUEST', `${where}: algo ${algo} is not sha256, sha384 or sha512 with rsa2048, rsa3072 or rsa4096, or sha256,ecdsa256`);
  }
  const signer = keyFor(keyName, where);
  if (signer.type !== 'rsa' || signer.bits !== Number(bits)) {
    throw new DaemonError('BAD_REQUEST', `${where}: algo ${algo} needs an RSA-${bits} key; key ${keyName} is ${signer.description}`);
  }
  return { signer, scheme, digest: digest as SignaturePlan['digest'], keyName, algo };
}

/**
 * The nodes a configuration signature covers (fit_config_get_hash_list): the root, the
 * configuration, and each image it names in `sign-images` (default kernel and fdt, where present)
 * with that image's hash nodes. Each image must have a SHA-2 hash node: the signature covers the
 * image only through it.
 */
function configurationNodes(fdt: Fdt, config: number, signature: number, where: string): string[] {
  const nodes = ['/', `/configurations/${nodeName(fdt, config)}`];
  const listed = getStringList(fdt, signature, 'sign-images');
  const imageNames = listed ?? DEFAULT_SIGNED_IMAGES;
  const images = pathOffset(fdt, '/images')!;
  const imagesPath = nodePath(fdt, images);
  // /images walked once: fdt_subnode_offset's matches (the first node of that exact name, or for a
  // name without a unit address the first whose name before '@' is it), and each image's nodes once.
  const byName = new Map<string, number>();
  const byBase = new Map<string, number>();
  for (const image of subnodes(fdt, images)) {
    const name = nodeName(fdt, image);
    if (!byName.has(name)) byName.set(name, image);
    const base = name.split('@')[0]!;
    if (!byBase.has(base)) byBase.set(base, image);
  }
  const imageNodes = new Map<number, string[]>();
  // hashed-nodes must fit the room mkimage gives the blob; a list naming one image millions of times does not.
  let listBytes = 0;
  let count = 0;
  for (const property of imageNames) {
    for (const uname of getStringList(fdt, config, property) ?? []) {
      const image = (uname.includes('@') ? byName : byBase).get(uname) ?? null;
      if (image === null) {
        if (listed === null) continue;
        throw new DaemonError('BAD_REQUEST', `${where}: image ${uname} (${property}) is not in /images`);
      }
      let covered = imageNodes.get(image);
      if (covered === undefined) {
        const imagePath = `${imagesPath}/${nodeName(fdt, image)}`;
        const hashes = subnodes(fdt, image).filter((node) => nodeName(fdt, node).startsWith('hash'));
        if (!hashes.some((node) => STRONG_HASHES.has(getString(fdt, node, 'algo') ?? ''))) {
          throw new DaemonError('BAD_REQUEST', `${where}: image ${uname} has no sha256, sha384 or sha512 hash node, so the signature would not cover its data`);
        }
        covered = [imagePath, ...hashes.map((node) => `${imagePath}/${nodeName(fdt, node)}`)];
        imageNodes.set(image, covered);
      }
      for (const path of covered) {
        listBytes += path.length + 1;
        if (listBytes > GROWTH_MAX) {
          throw new DaemonError('BAD_REQUEST', `${where}: its hashed-nodes would be more than ${GROWTH_MAX} bytes, more room than mkimage gives a FIT`);
        }
        nodes.push(path);
      }
      count++;
    }
  }
  if (count === 0) throw new DaemonError('BAD_REQUEST', `${where} signs no image`);
  return nodes;
}

/**
 * fdt_find_regions with the string table: the byte ranges a configuration signature hashes. An
 * included node brings its properties (but `data`) and its subnodes' begin and end tags; the
 * FDT_END tag and the strings block close the list.
 */
function findRegions(fdt: Fdt, hashedNodes: readonly string[]): Array<{ offset: number; size: number }> {
  const included = new Set(hashedNodes);
  const structAt = structOffset(fdt);
  const stringsBytes = stringsSize(fdt);
  const regions: Array<{ offset: number; size: number }> = [];
  const stack: number[] = [];
  const path: string[] = [];
  let want = 0;
  let start = -1;
  let next = 0;
  for (;;) {
    const offset = next;
    const step = nextTag(fdt, offset);
    const tag = step.tag;
    next = step.next;
    let stopAt = next;
    let include = false;
    if (tag === FDT_PROP) {
      include = want >= 2 && !EXCLUDED_PROPERTIES.includes(propertyName(fdt, offset));
      stopAt = offset;
    } else if (tag === FDT_NOP) {
      include = want >= 2;
      stopAt = offset;
    } else if (tag === FDT_BEGIN_NODE) {
      path.push(nodeName(fdt, offset));
      const full = path.length === 1 ? '/' : `/${path.slice(1).join('/')}`;
      stack.push(want);
      if (want === 1) stopAt = offset;
      if (included.has(full)) want = 2;
      else if (want > 0) want--;
      else stopAt = offset;
      include = want > 0;
    } else if (tag === FDT_END_NODE) {
      include = want > 0;
      want = stack.pop() ?? 0;
      path.pop();
    } else if (tag === FDT_END) {
      include = true;
    }
    if (include && start === -1) {
      const last = regions[regions.length - 1];
      if (last && offset === last.offset + last.size - structAt) {
        regions.pop();
        start = last.offset - structAt;
      } else start = offset;
    }
    if (!include && start !== -1) {
      regions.push({ offset: structAt + start, size: stopAt - start });
      start = -1;
    }
    if (tag === FDT_END) break;
  }
  // The last region runs from its start through FDT_END and on over the whole strings block.
  regions.push({ offset: structAt + start, size: next - start + stringsBytes });
  return regions;
}

/** fit_image_write_sig: value, signer-name, signer-version, comment, timestamp, then a configuration's hashed nodes and strings, then -o's algo. */
function writeSignature(fdt: Fdt, node: number, value: Buffer, hashedNodes: string[] | null, opts: FitSigningOptions): void {
  // The strings block's size before this node's new names: what the configuration's regions hashed.
  const hashedStrings = stringsSize(fdt);
  const timestamp = Buffer.alloc(4);
  timestamp.writeUInt32BE(opts.timestamp >>> 0);
  setProp(fdt, node, 'value', value);
  setString(fdt, node, 'signer-name', opts.signerName);
  setString(fdt, node, 'signer-version', opts.signerVersion);
  if (opts.comment !== null) setString(fdt, node, 'comment', opts.comment);
  setProp(fdt, node, 'timestamp', timestamp);
  if (hashedNodes !== null) {
    // The first word is a legacy offset U-Boot ignores: always 0.
    const strings = Buffer.alloc(8);
    strings.writeUInt32BE(hashedStrings, 4);
    setProp(fdt, node, 'hashed-nodes', Buffer.from(hashedNodes.map((p) => `${p}\0`).join(''), 'latin1'));
    setProp(fdt, node, 'hashed-strings', strings);
  }
  if (opts.algo !== null) setString(fdt, node, 'algo', opts.algo);
}
