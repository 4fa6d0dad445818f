// Canonical JSON for log entries: the RFC 8785 (JCS) form restricted to what entries hold, objects
// with keys sorted by UTF-16 code units, strings, booleans, null and safe integers, no whitespace.
// With integers only, JSON.stringify's number and string output is JCS's. Built from field lists
// rather than by walking objects: it runs on every signature a daemon returns.

/** A member: its key and its value already encoded as canonical JSON (undefined: left out). */
export type JsonField = readonly [key: string, value: string | undefined];

export function jsonString(text: string): string {
  return JSON.stringify(text);
}

/** Throws RangeError on anything but a safe integer: canonical entries hold no fractions. */
export function jsonInteger(n: number): string {
  if (!Number.isSafeInteger(n)) throw new RangeError(`canonical JSON holds safe integers only, not ${n}`);
  return String(n);
}

export function canonicalObject(fields: readonly JsonField[]): string {
  // Default sort order compares UTF-16 code units, which is RFC 8785's key order.
  const present = fields.filter((f) => f[1] !== undefined).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  let out = '{';
  for (let i = 0; i < present.length; i++) out += `${i === 0 ? '' : ','}${jsonString(present[i]![0])}:${present[i]![1]}`;
  return out + '}';
}
