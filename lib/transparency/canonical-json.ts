// Canonical JSON for log entries, the RFC 8785 (JCS) form restricted to what entries hold: objects
// with keys sorted by UTF-16 code units, strings, booleans, null and safe integers, no whitespace.
// Restricting numbers to integers makes JSON.stringify's output the JCS output.

export type CanonicalValue = string | number | boolean | null | CanonicalObject;
export interface CanonicalObject {
  [key: string]: CanonicalValue | undefined;
}

/** Encodes a value; undefined members are left out. Throws RangeError on a non-integer number. */
export function canonicalJson(value: CanonicalValue): string {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new RangeError(`canonical JSON holds safe integers only, not ${value}`);
    return JSON.stringify(value);
  }
  const keys = Object.keys(value)
    .filter((k) => value[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k]!)}`).join(',')}}`;
}
