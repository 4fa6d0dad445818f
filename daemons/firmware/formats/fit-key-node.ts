// The public key as U-Boot's verified boot reads it from its own device tree (`/signature/key-<name>`),
// written as `mkimage -K <dtb>` writes it (rsa_add_verify_data): the modulus, the Montgomery
// constants U-Boot's RSA code needs (n0-inverse, r-squared), the exponent, the algorithm, `required`.
import type { KeyObject } from 'node:crypto';
import { DaemonError } from '../../../lib/errors.js';
import { addSubnode, setProp, setString, subnode, type Fdt } from './flattened-device-tree.js';

export interface FitKeyNode {
  /** The signature node's key-name-hint: the node is `key-<keyName>`. */
  keyName: string;
  /** The signature's algorithm, e.g. sha256,rsa2048. */
  algo: string;
  publicKey: KeyObject;
  /** mkimage -r: `image` for an image signature's key, `conf` for a configuration's; null: not written. */
  required: 'image' | 'conf' | null;
}

const TWO_32 = 1n << 32n;

/** Adds (or rewrites) the key's node under /signature, creating /signature if needed. */
export function addFitKeyNode(fdt: Fdt, key: FitKeyNode): void {
  const jwk = key.publicKey.export({ format: 'jwk' });
  if (key.publicKey.asymmetricKeyType !== 'rsa' || !jwk.n || !jwk.e) throw new DaemonError('INTERNAL', 'a FIT key node is written for RSA keys only');
  const n = bigIntOf(Buffer.from(jwk.n, 'base64url'));
  const e = bigIntOf(Buffer.from(jwk.e, 'base64url'));
  const bits = n.toString(2).length;
  const parent = subnode(fdt, 0, 'signature') ?? addSubnode(fdt, 0, 'signature');
  const node = subnode(fdt, parent, `key-${key.keyName}`) ?? addSubnode(fdt, parent, `key-${key.keyName}`);
  // In rsa_add_verify_data's order: each new property goes first, so the order is part of the bytes.
  setString(fdt, node, 'key-name-hint', key.keyName);
  setProp(fdt, node, 'rsa,num-bits', u32(bits));
  // -1/n mod 2^32, for Montgomery multiplication.
  setProp(fdt, node, 'rsa,n0-inverse', u32(Number((TWO_32 - modInverse(n % TWO_32, TWO_32)) % TWO_32)));
  setProp(fdt, node, 'rsa,exponent', words(e, 64));
  setProp(fdt, node, 'rsa,modulus', words(n, bits));
  // R² mod n with R = 2^bits.
  setProp(fdt, node, 'rsa,r-squared', words((1n << BigInt(2 * bits)) % n, bits));
  setString(fdt, node, 'algo', key.algo);
  if (key.required !== null) setString(fdt, node, 'required', key.required);
}

function bigIntOf(bytes: Buffer): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${bytes.toString('hex')}`);
}

function u32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value >>> 0);
  return out;
}

/** fdt_add_bignum: the low `bits` of `value` as big-endian 32-bit cells (bits/32 of them). */
function words(value: bigint, bits: number): Buffer {
  const count = Math.floor(bits / 32);
  const out = Buffer.alloc(count * 4);
  let rest = value;
  for (let i = count - 1; i >= 0; i--) {
    out.writeUInt32BE(Number(rest % TWO_32), i * 4);
    rest >>= 32n;
  }
  return out;
}

/** a⁻¹ mod m by the extended Euclidean algorithm (a odd, m a power of two here). */
function modInverse(a: bigint, m: bigint): bigint {
  let [oldR, r] = [a, m];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  return ((oldS % m) + m) % m;
}
