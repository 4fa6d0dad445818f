// The firmware daemon's line protocol: `VERB arg…` in, `OK <value>` or `ERR <CODE> <text>` out, one
// line each. Only digests and small signed objects travel; grammar in docs/firmware.md.
import { DaemonError } from '../../lib/errors.js';
import { decodeBase64, decodeHex, logSafe } from '../../lib/protocol/encoding.js';
import { formatErrorLine, type ReplyMode } from '../../lib/protocol/reply-format.js';
import type { LineService, RequestContext } from '../../lib/server/request-runner.js';
import type { DigestSigner } from './formats/digest-signer.js';
import { isModuleHash, MODULE_HASHES, signModuleDigest, type ModuleHash } from './formats/kernel-module.js';
import { signAuthenticodeDigest } from './formats/authenticode.js';
import { signCmsDigest } from './formats/cms.js';
import { signMenderDigest, signMenderManifest } from './formats/mender.js';
import { isOpteeAlgorithm, signTaDigest, type OpteeAlgorithm } from './formats/optee.js';
import { isSwupdateMethod, signSwDescription, signSwDescriptionDigest, swupdateSlot, type SwupdateMethod } from './formats/swupdate.js';
import { validateSelector, type KeyRoot } from './keys/key-root.js';
import { KEY_SLOTS, type KeySlot } from './keys/key-slots.js';

export interface FirmwareLineDeps {
  keyRoot: KeyRoot;
  reply: ReplyMode;
  /** Largest decoded sw-description or manifest; the line limit bounds it too. */
  objectBytesMax: number;
}

type Handler = (args: string[], ctx: RequestContext, deps: FirmwareLineDeps) => Promise<string>;

interface Verb {
  /** Argument names, for the arity check and the error text. */
  args: string[];
  run: Handler;
}

const VERBS: Record<string, Verb> = {
  PING: { args: [], run: async () => 'PONG' },
  KEYS: {
    args: [],
    run: async (_a, _c, d) =>
      d.keyRoot
        .entries()
        .map((e) => `${e.signType}:${e.selector}`)
        .join(' ') || '-',
  },
  KEYINFO: { args: ['selector', 'slot'], run: async ([sel, slot], ctx, d) => keyInfoLine(d.keyRoot.signer(sel!, parseSlot(slot!)), ctx) },
  PUBKEY: {
    args: ['selector', 'slot'],
    run: async ([sel, slot], _c, d) => d.keyRoot.signer(sel!, parseSlot(slot!)).publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
  },
  CERT: { args: ['selector', 'slot'], run: async ([sel, slot], _c, d) => certificateOf(d, sel!, parseSlot(slot!)) },
  MODULE: {
    args: ['machine', 'hash', 'digest-hex'],
    run: async ([machine, hash, hex], ctx, d) => {
      const alg = parseModuleHash(hash!);
      ctx.fields['hash'] = alg;
      const signer = d.keyRoot.signer(machine!, 'kmodsign');
      return (await signModuleDigest(signer, alg, decodeHex(hex!, 'digest', 64))).toString('base64');
    },
  },
  SWUPDATE: {
    args: ['distro', 'method', 'sw-description-base64'],
    run: async ([distro, method, b64], ctx, d) => {
      const m = parseSwupdateMethod(method!, ctx);
      // Emptiness is the format's rule (the same for HTTP), not this verb's.
      const content = decodeBase64(b64!, 'sw-description', d.objectBytesMax);
      ctx.fields['bytes'] = content.length;
      return (await signSwDescription(d.keyRoot.signer(distro!, swupdateSlot(m), 'sw-description'), m, content)).toString('base64');
    },
  },
  'SWUPDATE-DIGEST': {
    args: ['distro', 'method', 'sha256-hex'],
    run: async ([distro, method, hex], ctx, d) => {
      const m = parseSwupdateMethod(method!, ctx);
      return (await signSwDescriptionDigest(d.keyRoot.signer(distro!, swupdateSlot(m)), m, decodeHex(hex!, 'digest', 32))).toString('base64');
    },
  },
  MENDER: {
    args: ['distro', 'manifest-base64'],
    run: async ([distro, b64], ctx, d) => {
      const manifest = nonEmpty(decodeBase64(b64!, 'manifest', d.objectBytesMax), 'manifest');
      ctx.fields['bytes'] = manifest.length;
      return signMenderManifest(d.keyRoot.signer(distro!, 'mender'), manifest);
    },
  },
  'MENDER-DIGEST': {
    args: ['distro', 'sha256-hex'],
    run: async ([distro, hex], _c, d) => signMenderDigest(d.keyRoot.signer(distro!, 'mender'), decodeHex(hex!, 'digest', 32)),
  },
  OPTEE: {
    args: ['machine', 'algo', 'sha256-hex'],
    run: async ([machine, algo, hex], ctx, d) => {
      const a = parseOpteeAlgorithm(algo!);
      ctx.fields['algo'] = a;
      return (await signTaDigest(d.keyRoot.signer(machine!, 'opteesign'), a, decodeHex(hex!, 'digest', 32))).toString('base64');
    },
  },
  // The client hashes the PE image (Authenticode, file padded to 8 bytes) and attaches the PKCS#7 itself (sbattach --attach).
  UEFI: {
    args: ['machine', 'sha256-hex'],
    run: async ([machine, hex], _c, d) =>
      (await signAuthenticodeDigest(d.keyRoot.signer(machine!, 'uefisign'), decodeHex(hex!, 'digest', 32))).toString('base64'),
  },
  // NVIDIA's detached signature (L4TLauncher): CMS over the SHA-256 of the whole file, as `openssl cms -sign -binary`.
  'UEFI-CMS': {
    args: ['machine', 'sha256-hex'],
    run: async ([machine, hex], _c, d) =>
      (await signCmsDigest(d.keyRoot.signer(machine!, 'uefisign'), decodeHex(hex!, 'digest', 32), { smimeCapabilities: true })).toString('base64'),
  },
};

const LINE_VERBS = Object.keys(VERBS);

export function createFirmwareLineService(deps: FirmwareLineDeps): LineService {
  return {
    async handle(line, ctx) {
      const text = line.toString('latin1');
      const [verbName = '', ...args] = text.split(' ');
      const verb = Object.hasOwn(VERBS, verbName) ? VERBS[verbName] : undefined;
      if (!verb) throw new DaemonError('UNKNOWN_VERB', `unknown verb "${logSafe(verbName, 24)}" (one of ${LINE_VERBS.join(' ')})`);
      ctx.fields['verb'] = verbName;
      if (args.length !== verb.args.length || args.some((a) => a.length === 0)) {
        throw new DaemonError('BAD_REQUEST', `usage: ${[verbName, ...verb.args.map((a) => `<${a}>`)].join(' ')} (single spaces)`);
      }
      if (verb.args[0] === 'selector' || verb.args[0] === 'machine' || verb.args[0] === 'distro') {
        ctx.fields['selector'] = validateSelector(args[0]!, verb.args[0]);
      }
      const value = await verb.run(args, ctx, deps);
      return deps.reply === 'json' ? JSON.stringify({ ok: value }) : `OK ${value}`;
    },
    formatError: (err: DaemonError) => formatErrorLine(err, deps.reply),
  };
}

function parseSlot(text: string): KeySlot {
  if ((KEY_SLOTS as readonly string[]).includes(text)) return text as KeySlot;
  throw new DaemonError('BAD_REQUEST', `slot must be one of ${KEY_SLOTS.join(' ')}`);
}

function parseModuleHash(text: string): ModuleHash {
  if (isModuleHash(text)) return text;
  throw new DaemonError('BAD_REQUEST', `hash must be one of ${MODULE_HASHES.join(' ')}`);
}

function parseSwupdateMethod(text: string, ctx: RequestContext): SwupdateMethod {
  if (!isSwupdateMethod(text)) throw new DaemonError('BAD_REQUEST', 'method must be RSA, RSA-PSS or CMS');
  ctx.fields['method'] = text;
  return text;
}

function parseOpteeAlgorithm(text: string): OpteeAlgorithm {
  if (isOpteeAlgorithm(text)) return text;
  throw new DaemonError('BAD_REQUEST', 'algo must be PKCS1 or PSS');
}

function nonEmpty(data: Buffer, field: string): Buffer {
  if (data.length === 0) throw new DaemonError('BAD_REQUEST', `${field} is empty`);
  return data;
}

function keyInfoLine(key: DigestSigner, ctx: RequestContext): string {
  ctx.fields['keyId'] = key.keyId;
  const curve = key.curve ? ` curve=${key.curve}` : '';
  return `type=${key.type} bits=${key.bits}${curve} sig-bytes=${key.sigBytes} key-id=${key.keyId} cert=${key.certificate ? 'yes' : 'no'}`;
}

function certificateOf(deps: FirmwareLineDeps, selector: string, slot: KeySlot): string {
  const certificate = deps.keyRoot.signer(selector, slot).certificate;
  if (!certificate) throw new DaemonError('BAD_REQUEST', `slot ${slot} has no certificate (only kmodsign, swupdate-cms, uefisign and the imxsign slots do)`);
  return certificate.der.toString('base64');
}
