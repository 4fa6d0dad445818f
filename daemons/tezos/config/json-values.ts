// Checks on values read from keys.json (objects, lists of strings); every failure is CONFIG_INVALID
// naming the file and field, so an operator finds the line to fix.
import { DaemonError } from '../../../lib/errors.js';

export function invalid(where: string, text: string): DaemonError {
  return new DaemonError('CONFIG_INVALID', `${where}: ${text}`);
}

export function asObject(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(where, 'expected an object');
  return value as Record<string, unknown>;
}

export function stringList(value: unknown, where: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw invalid(where, 'expected a list of strings');
  return value;
}
