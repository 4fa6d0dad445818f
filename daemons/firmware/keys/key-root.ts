// The key root, laid out as digsigserver's: <root>/<machine or distro>/<signtype>/<files>. Every key
// is read (or opened in its HSM), checked against its slot and certificate once at start-up;
// requests only look a key up by validated name and get its DigestSigner.
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { DaemonError } from '../../../lib/errors.js';
import { checkKeyDirectory } from '../../../lib/keys/key-file.js';
import type { DigestSigner } from '../formats/digest-signer.js';
import { loadFileSigner } from './file-key.js';
import { loadHabSrks, type HabSrks } from './hab-srks.js';
import { EITHER_KEY_SIGN_TYPES, KEY_SLOTS, SIGN_TYPES, SLOTS, slotsOf, type KeySlot, type SignType, type SlotPlan } from './key-slots.js';
import { HSM_REFERENCE_SUFFIX, openHsmSigner, type HsmKeyDeps } from './pkcs11-key.js';

export interface KeyRoot {
  /**
   * One slot's key: BAD_REQUEST for a bad machine/distro name, UNKNOWN_KEY when the key root has no
   * such key. `artifact`: what the signatures are for, when the request names it (the transparency log records it).
   */
  signer(selector: string, slot: KeySlot, artifact?: string): DigestSigner;
  /** A machine's i.MX SRK certificates (same errors as `signer`). */
  habSrks(machine: string): HabSrks;
  /** Every (selector, signtype) pair loaded, for the start-up log and KEYS requests. */
  entries(): Array<{ selector: string; signType: SignType }>;
  /** Every key loaded, by slot, and where it is held (the transparency log's key-loaded entries). */
  keys(): Array<{ selector: string; slot: KeySlot; backend: 'file' | 'pkcs11'; signer: DigestSigner }>;
  /** Releases HSM sessions (nothing for a root of files). */
  close(): Promise<void>;
}

const SELECTOR = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/;

/** machine / distro names: no path separators, no leading dot (so no `.` or `..`), at most 64 characters. */
export function validateSelector(name: string, field: string): string {
  if (!SELECTOR.test(name)) throw new DaemonError('BAD_REQUEST', `${field} must match [A-Za-z0-9_][A-Za-z0-9._-]{0,63}`);
  return name;
}

/**
 * Loads every key of the root: PEM files in memory, or, in a key file's place, a `<key file>.pkcs11`
 * reference to an HSM key (opened here: login, key lookup, a verified test signature per scheme).
 * Start-up errors: CONFIG_INVALID, KEY_LOAD_FAILED, KEY_FILE_INSECURE, HSM_LOGIN_FAILED.
 */
export async function openKeyRoot(root: string, deps: HsmKeyDeps): Promise<KeyRoot> {
  const loaded = new Map<KeySlot, Map<string, DigestSigner>>(KEY_SLOTS.map((slot) => [slot, new Map()]));
  const srks = new Map<string, HabSrks>();
  const closers: Array<() => Promise<void>> = [];
  const keys: ReturnType<KeyRoot['keys']> = [];
  const close = async (): Promise<void> => {
    await Promise.all(closers.splice(0).map((c) => c()));
  };
  try {
    for (const plan of planKeyRoot(root, deps.log)) {
      const reference = plan.keyFile + HSM_REFERENCE_SUFFIX;
      let signer: DigestSigner;
      const backend = fs.existsSync(reference) ? 'pkcs11' : 'file';
      if (backend === 'file') signer = loadFileSigner(plan);
      else {
        if (fs.existsSync(plan.keyFile))
          throw new DaemonError('CONFIG_INVALID', `${plan.keyFile}: both the key file and ${path.basename(reference)} exist; keep one`);
        const opened = await openHsmSigner(plan, deps);
        closers.push(() => opened.close());
        signer = opened.signer;
      }
      loaded.get(plan.slot)!.set(plan.selector, signer);
      keys.push({ selector: plan.selector, slot: plan.slot, backend, signer });
    }
    for (const [machine, csf] of loaded.get('imxsign-csf')!) {
      const img = loaded.get('imxsign-img')!.get(machine)!;
      srks.set(machine, loadHabSrks(path.join(root, machine, 'imxsign'), csf.certificate!, img.certificate!));
    }
  } catch (err) {
    await close();
    throw err;
  }
  const selectorsOf = (signType: SignType): Set<string> => new Set(slotsOf(signType).flatMap((slot) => [...loaded.get(slot)!.keys()]));
  const signerOf = (selector: string, slot: KeySlot): DigestSigner => {
    const { signType, selectorField } = SLOTS[slot];
    if (!selectorsOf(signType).has(validateSelector(selector, selectorField)))
      throw new DaemonError('UNKNOWN_KEY', `no ${signType} key for ${selectorField} ${selector}`);
    const signer = loaded.get(slot)!.get(selector);
    if (!signer) throw new DaemonError('UNKNOWN_KEY', SLOTS[slot].missing);
    return signer;
  };
  return {
    signer: signerOf,
    habSrks(machine) {
      signerOf(machine, 'imxsign-csf');
      return srks.get(machine)!;
    },
    entries: () => SIGN_TYPES.flatMap((signType) => [...selectorsOf(signType)].sort().map((selector) => ({ selector, signType }))),
    keys: () => [...keys],
    close,
  };
}

/** Walks the key root: which slots each machine or distro directory fills, and where their files are. */
function planKeyRoot(root: string, log?: Logger): SlotPlan[] {
  const plans: SlotPlan[] = [];
  checkKeyDirectory(root, 'key root');
  for (const selector of listDirs(root)) {
    if (!SELECTOR.test(selector)) {
      log?.warn({ selector: selector.slice(0, 80) }, 'key root: directory name is not a valid machine/distro name; ignored');
      continue;
    }
    checkKeyDirectory(path.join(root, selector), 'key directory');
    const present = new Set(listDirs(path.join(root, selector)));
    for (const signType of SIGN_TYPES) {
      if (!present.has(signType)) continue;
      const dir = path.join(root, selector, signType);
      checkKeyDirectory(dir, 'key directory');
      const slots = slotsOf(signType);
      const planOf = (slot: KeySlot): SlotPlan => {
        const { keyFile, certFile } = SLOTS[slot];
        return { slot, selector, keyFile: path.join(dir, keyFile), certFile: certFile === null ? null : path.join(dir, certFile) };
      };
      // Every key of a signtype is required, but where its keys are alternatives (swupdate): there each
      // key whose files are partly there must be whole, and at least one must be.
      const found = EITHER_KEY_SIGN_TYPES.includes(signType) ? slots.filter((slot) => slotFiles(planOf(slot)).some((file) => fs.existsSync(file))) : slots;
      if (found.length === 0) {
        const wanted = slots.map((slot) => (SLOTS[slot].certFile ? `${SLOTS[slot].certFile} + ${SLOTS[slot].keyFile}` : SLOTS[slot].keyFile));
        throw new DaemonError('KEY_LOAD_FAILED', `${dir}: neither ${wanted.join(' nor ')}`);
      }
      plans.push(...found.map(planOf));
    }
  }
  return plans;
}

function slotFiles(plan: SlotPlan): string[] {
  return [plan.keyFile, plan.keyFile + HSM_REFERENCE_SUFFIX, ...(plan.certFile ? [plan.certFile] : [])];
}

function listDirs(dir: string): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    throw new DaemonError('CONFIG_INVALID', `key root ${dir}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`, { cause: err });
  }
  // Operators share keys between machines with symlinked directories; the key root is their config, so follow them.
  return entries.filter((e) => e.isDirectory() || (e.isSymbolicLink() && isDirectory(path.join(dir, e.name)))).map((e) => e.name);
}

function isDirectory(file: string): boolean {
  try {
    return fs.statSync(file).isDirectory();
  } catch {
    return false;
  }
}
