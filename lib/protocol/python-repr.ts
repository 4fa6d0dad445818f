// Python's repr() of a bytes object, byte for byte, because the seed daemons' clients parse
// replies of the form (b'<message>', b'<hex>') and must keep working unchanged.

export function pythonBytesRepr(data: Buffer): string {
  const hasSingle = data.includes(0x27);
  const hasDouble = data.includes(0x22);
  const quote = hasSingle && !hasDouble ? 0x22 : 0x27;
  let out = 'b' + String.fromCharCode(quote);
  for (const byte of data) {
    if (byte === quote || byte === 0x5c) out += '\\' + String.fromCharCode(byte);
    else if (byte === 0x09) out += '\\t';
    else if (byte === 0x0a) out += '\\n';
    else if (byte === 0x0d) out += '\\r';
    else if (byte < 0x20 || byte >= 0x7f) out += '\\x' + byte.toString(16).padStart(2, '0');
    else out += String.fromCharCode(byte);
  }
  return out + String.fromCharCode(quote);
}
