// Bounded framing for the line protocol: bytes in, complete lines out one at a time, never more than
// lineBytesMax of a partial line buffered. LF ends a line; a CR before it is dropped (CRLF clients work).
// Lines are cut lazily (next()), so a read of 64 KiB of newlines is one buffer, not 65,536 of them.

export interface LineReader {
  /** Adds bytes. The caller stops reading its socket until next() has returned null again. */
  push(chunk: Buffer): void;
  /** The next complete line, or null when none is complete. Check `overflowed` after a null. */
  next(): Buffer | null;
  /** The unterminated tail, for a client that closed (or went quiet) without a final LF. */
  takeRest(): Buffer | null;
  /** Drops everything held (a connection that is closing): its memory is free at once. */
  clear(): void;
  /** True once a line grew past the limit; the reader then yields nothing more. */
  readonly overflowed: boolean;
  /** Bytes held that next() has not returned yet (a partial line once next() gave null). */
  readonly pendingBytes: number;
  /** Lines returned so far (by next() or takeRest()): tells one partial line from the next. */
  readonly linesTaken: number;
}

export function createLineReader(lineBytesMax: number): LineReader {
  // Unscanned input: the chunks given to push(), the first one consumed from `offset`.
  const chunks: Buffer[] = [];
  let offset = 0;
  let unscannedBytes = 0;
  // A line begun in an earlier chunk (copied: we hold it across reads).
  let parts: Buffer[] = [];
  let partBytes = 0;
  let overflowed = false;
  let linesTaken = 0;

  function finish(tail: Buffer): Buffer {
    const line = parts.length === 0 ? tail : Buffer.concat([...parts, tail]);
    parts = [];
    partBytes = 0;
    linesTaken++;
    const end = line.length > 0 && line[line.length - 1] === 0x0d ? line.length - 1 : line.length;
    return line.subarray(0, end);
  }

  function clear(): void {
    chunks.length = 0;
    offset = 0;
    unscannedBytes = 0;
    parts = [];
    partBytes = 0;
  }

  function overflow(): null {
    overflowed = true;
    clear();
    return null;
  }

  return {
    push(chunk) {
      if (overflowed || chunk.length === 0) return;
      chunks.push(chunk);
      unscannedBytes += chunk.length;
    },
    next() {
      while (!overflowed && chunks.length > 0) {
        const chunk = chunks[0]!;
        const nl = chunk.indexOf(0x0a, offset);
        if (nl !== -1) {
          const piece = chunk.subarray(offset, nl);
          unscannedBytes -= nl + 1 - offset;
          offset = nl + 1;
          if (offset === chunk.length) {
            chunks.shift();
            offset = 0;
          }
          if (partBytes + piece.length > lineBytesMax + 1) return overflow();
          const line = finish(piece);
          if (line.length > lineBytesMax) return overflow();
          return line;
        }
        // No LF in the rest of this chunk: it joins the partial line.
        const rest = chunk.length - offset;
        // +1 leaves room for the CR of a CRLF ending on a line of exactly lineBytesMax.
        if (partBytes + rest > lineBytesMax + 1) return overflow();
        parts.push(Buffer.from(chunk.subarray(offset)));
        partBytes += rest;
        unscannedBytes -= rest;
        chunks.shift();
        offset = 0;
      }
      return null;
    },
    clear,
    takeRest() {
      if (overflowed || partBytes + unscannedBytes === 0) return null;
      // Only called once next() gave null, so everything left is one unterminated line.
      chunks.forEach((chunk, i) => parts.push(i === 0 ? chunk.subarray(offset) : chunk));
      chunks.length = 0;
      offset = 0;
      partBytes += unscannedBytes;
      unscannedBytes = 0;
      if (partBytes > lineBytesMax + 1) return overflow();
      // As in next(): the +1 was room for a CR; without one, the line itself must fit.
      const line = finish(Buffer.alloc(0));
      if (line.length > lineBytesMax) return overflow();
      return line;
    },
    get overflowed() {
      return overflowed;
    },
    get pendingBytes() {
      return partBytes + unscannedBytes;
    },
    get linesTaken() {
      return linesTaken;
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
