// Bounded framing for the line protocol: bytes in, complete lines out, never more than
// lineBytesMax buffered. LF ends a line; a CR before it is dropped (CRLF clients work).

export interface LineReader {
  /** Adds bytes; returns the lines they completed. Throws nothing: check `overflowed`. */
  push(chunk: Buffer): Buffer[];
  /** The unterminated tail, for a client that closed without a final LF. */
  takeRest(): Buffer | null;
  /** True once a line grew past the limit; the reader then ignores further input. */
  readonly overflowed: boolean;
  /** Bytes held that do not yet form a line. */
  readonly pendingBytes: number;
}

export function createLineReader(lineBytesMax: number): LineReader {
  let parts: Buffer[] = [];
  let partBytes = 0;
  let overflowed = false;

  function finish(tail: Buffer): Buffer {
    const line = parts.length === 0 ? tail : Buffer.concat([...parts, tail]);
    parts = [];
    partBytes = 0;
    const end = line.length > 0 && line[line.length - 1] === 0x0d ? line.length - 1 : line.length;
    return line.subarray(0, end);
  }

  return {
    push(chunk) {
      const lines: Buffer[] = [];
      if (overflowed) return lines;
      let start = 0;
      for (;;) {
        const nl = chunk.indexOf(0x0a, start);
        if (nl === -1) break;
        const line = finish(chunk.subarray(start, nl));
        if (line.length > lineBytesMax) {
          overflowed = true;
          return lines;
        }
        lines.push(line);
        start = nl + 1;
      }
      const rest = chunk.length - start;
      if (rest > 0) {
        // +1 leaves room for the CR of a CRLF ending on a line of exactly lineBytesMax.
        if (partBytes + rest > lineBytesMax + 1) {
          overflowed = true;
          parts = [];
          partBytes = 0;
          return lines;
        }
        // Copy: the socket's buffer may be reused and we hold this across reads.
        parts.push(Buffer.from(chunk.subarray(start)));
        partBytes += rest;
      }
      return lines;
    },
    takeRest() {
      if (partBytes === 0 || overflowed) return null;
      return finish(Buffer.alloc(0));
    },
    get overflowed() {
      return overflowed;
    },
    get pendingBytes() {
      return partBytes;
    },
  };
}

const ASCII_WHITESPACE = new Set([0x20, 0x09, 0x0a, 0x0d, 0x0b, 0x0c]);

/** Python's bytes.strip(): leading and trailing ASCII whitespace, interior untouched. */
export function trimAsciiWhitespace(line: Buffer): Buffer {
  let start = 0;
  let end = line.length;
  while (start < end && ASCII_WHITESPACE.has(line[start]!)) start++;
  while (end > start && ASCII_WHITESPACE.has(line[end - 1]!)) end--;
  return line.subarray(start, end);
}

/** Splits content into consecutive chunks of at most chunkBytes; empty content is one empty chunk. */
export function chunk(content: Buffer, chunkBytes: number): Buffer[] {
  if (content.length <= chunkBytes) return [content];
  const chunks: Buffer[] = [];
  for (let i = 0; i < content.length; i += chunkBytes) chunks.push(content.subarray(i, i + chunkBytes));
  return chunks;
}
