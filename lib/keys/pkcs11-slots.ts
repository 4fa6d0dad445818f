// Finding the slot whose token a URI names (label, serial, slot id, manufacturer, model, slot and
// library attributes), with a clear error naming what is present when none matches. PKCS#11 pads
// these strings with blanks to a fixed width; they are compared without the padding.
import { DaemonError } from '../errors.js';
import type { Pkcs11Api, Pkcs11Handle } from './pkcs11-module.js';
import type { TokenSelector } from './pkcs11-uri.js';

export type { TokenSelector };

export interface SlotToken {
  slot: Pkcs11Handle;
  slotId: bigint;
  label: string;
  serial: string;
  manufacturer: string;
  model: string;
  slotDescription: string;
  slotManufacturer: string;
}

/** Which selector field is compared with which token field, and its RFC 7512 name (slot-id is compared as a number). */
const MATCHED_FIELDS: ReadonlyArray<[keyof TokenSelector, keyof SlotToken, string]> = [
  ['token', 'label', 'token'],
  ['serial', 'serial', 'serial'],
  ['manufacturer', 'manufacturer', 'manufacturer'],
  ['model', 'model', 'model'],
  ['slotDescription', 'slotDescription', 'slot-description'],
  ['slotManufacturer', 'slotManufacturer', 'slot-manufacturer'],
];

export function listTokens(api: Pkcs11Api): SlotToken[] {
  return api.C_GetSlotList(true).map((slot) => {
    const info = api.C_GetTokenInfo(slot);
    const slotInfo = api.C_GetSlotInfo(slot);
    return {
      slot,
      slotId: slotIdOf(slot),
      label: unpad(info.label),
      serial: unpad(info.serialNumber),
      manufacturer: unpad(info.manufacturerID),
      model: unpad(info.model),
      slotDescription: unpad(slotInfo.slotDescription),
      slotManufacturer: unpad(slotInfo.manufacturerID),
    };
  });
}

export function findSlot(api: Pkcs11Api, selector: TokenSelector): Pkcs11Handle {
  if (selector.token === undefined && selector.serial === undefined && selector.slotId === undefined) {
    throw new DaemonError('CONFIG_INVALID', 'pkcs11 URI: name the token (token=<label>, serial= or slot-id=)');
  }
  checkLibrary(api, selector);
  const tokens = listTokens(api);
  const matches = tokens.filter(
    (t) =>
      MATCHED_FIELDS.every(([wanted, actual]) => selector[wanted] === undefined || t[actual] === selector[wanted]) &&
      (selector.slotId === undefined || t.slotId === BigInt(selector.slotId)),
  );
  if (matches.length === 1) return matches[0]!.slot;
  const present = tokens.map((t) => describeToken(t, selector)).join(', ') || 'none';
  if (matches.length === 0) throw new DaemonError('BACKEND_UNAVAILABLE', `no token matches the URI (tokens present: ${present})`);
  throw new DaemonError('CONFIG_INVALID', `${matches.length} tokens match the URI; add serial= or slot-id=`);
}

/** library-* name the module itself (C_GetInfo): a module that differs holds no token the URI means. */
function checkLibrary(api: Pkcs11Api, selector: TokenSelector): void {
  const { libraryManufacturer, libraryDescription, libraryVersion } = selector;
  if (libraryManufacturer === undefined && libraryDescription === undefined && libraryVersion === undefined) return;
  const info = api.C_GetInfo();
  const actual = {
    manufacturer: unpad(info.manufacturerID),
    description: unpad(info.libraryDescription),
    version: `${info.libraryVersion.major}.${info.libraryVersion.minor}`,
  };
  const differs: string[] = [];
  if (libraryManufacturer !== undefined && libraryManufacturer !== actual.manufacturer) differs.push(`library-manufacturer "${actual.manufacturer}"`);
  if (libraryDescription !== undefined && libraryDescription !== actual.description) differs.push(`library-description "${actual.description}"`);
  if (libraryVersion !== undefined && `${libraryVersion.major}.${libraryVersion.minor}` !== actual.version) differs.push(`library-version ${actual.version}`);
  if (differs.length > 0) throw new DaemonError('BACKEND_UNAVAILABLE', `the module does not match the URI (it has ${differs.join(', ')})`);
}

/** A token as the "no match" error shows it: its label, plus the attributes the URI asked about. */
function describeToken(t: SlotToken, selector: TokenSelector): string {
  const asked = MATCHED_FIELDS.filter(([wanted]) => wanted !== 'token' && selector[wanted] !== undefined);
  return [`"${t.label}"`, ...asked.map(([, actual, uriName]) => `${uriName}="${t[actual] as string}"`)].join(' ');
}

/** PKCS#11 strings are padded with blanks (some modules use NULs) to a fixed width. */
function unpad(text: string): string {
  return text.replace(/[ \0]+$/, '');
}

/** pkcs11js gives slot ids as native-endian CK_ULONG buffers. */
function slotIdOf(slot: Pkcs11Handle): bigint {
  return slot.length >= 8 ? slot.readBigUInt64LE(0) : BigInt(slot.readUInt32LE(0));
}
