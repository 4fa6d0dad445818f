// Finding the slot whose token a URI names (label, serial, slot id), with a clear error naming what
// is present when none matches. Labels are space-padded to 32 bytes by the standard.
import { DaemonError } from '../errors.js';
import type { Pkcs11Api, Pkcs11Handle } from './pkcs11-module.js';

export interface TokenSelector {
  token?: string;
  serial?: string;
  slotId?: number;
}

export interface SlotToken {
  slot: Pkcs11Handle;
  slotId: bigint;
  label: string;
  serial: string;
}

export function listTokens(api: Pkcs11Api): SlotToken[] {
  return api.C_GetSlotList(true).map((slot) => {
    const info = api.C_GetTokenInfo(slot);
    return { slot, slotId: slotIdOf(slot), label: info.label.trimEnd(), serial: info.serialNumber.trimEnd() };
  });
}

export function findSlot(api: Pkcs11Api, selector: TokenSelector): Pkcs11Handle {
  if (selector.token === undefined && selector.serial === undefined && selector.slotId === undefined) {
    throw new DaemonError('CONFIG_INVALID', 'pkcs11 URI: name the token (token=<label>, serial= or slot-id=)');
  }
  const tokens = listTokens(api);
  const matches = tokens.filter(
    (t) =>
      (selector.token === undefined || t.label === selector.token) &&
      (selector.serial === undefined || t.serial === selector.serial) &&
      (selector.slotId === undefined || t.slotId === BigInt(selector.slotId)),
  );
  if (matches.length === 1) return matches[0]!.slot;
  const present = tokens.map((t) => `"${t.label}"`).join(', ') || 'none';
  if (matches.length === 0) throw new DaemonError('BACKEND_UNAVAILABLE', `no token matches the URI (tokens present: ${present})`);
  throw new DaemonError('CONFIG_INVALID', `${matches.length} tokens match the URI; add serial= or slot-id=`);
}

/** pkcs11js gives slot ids as native-endian CK_ULONG buffers. */
export function slotIdOf(slot: Pkcs11Handle): bigint {
  return slot.length >= 8 ? slot.readBigUInt64LE(0) : BigInt(slot.readUInt32LE(0));
}
