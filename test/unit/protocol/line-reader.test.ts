// Framing: LF/CRLF endings, the unterminated last line, the byte limit, trimming and chunking.
import t from 'tap';
import { chunk, createLineReader, trimAsciiWhitespace, type LineReader } from '../../../lib/protocol/line-reader.js';

/** Pushes bytes and takes every line they completed, as the server does between reads. */
function pushAll(r: LineReader, bytes: Buffer): Buffer[] {
  r.push(bytes);
  const lines: Buffer[] = [];
  for (let line = r.next(); line !== null; line = r.next()) lines.push(line);
  return lines;
}

t.test('splits on LF and drops a CR before it', async (t) => {
  const r = createLineReader(100);
  t.same(pushAll(r, Buffer.from('a\r\nbb\nc')).map(String), ['a', 'bb']);
  t.same(pushAll(r, Buffer.from('cc\n')).map(String), ['ccc']);
  t.equal(r.takeRest(), null);
});

t.test('keeps an unterminated tail for a client that closes without LF', async (t) => {
  const r = createLineReader(100);
  pushAll(r, Buffer.from('tail'));
  t.equal(String(r.takeRest()), 'tail');
});

t.test('overflows past the limit, with or without a newline', async (t) => {
  const r = createLineReader(4);
  t.same(pushAll(r, Buffer.from('1234\n')).map(String), ['1234']);
  pushAll(r, Buffer.from('1234'));
  t.notOk(r.overflowed, 'room is left for the CR of a CRLF');
  pushAll(r, Buffer.from('56'));
  t.ok(r.overflowed);
  const r2 = createLineReader(4);
  t.same(pushAll(r2, Buffer.from('ok\n123456\nlater\n')).map(String), ['ok']);
  t.ok(r2.overflowed);
  t.same(pushAll(r2, Buffer.from('more\n')), []);
});

t.test('trims ASCII whitespace like Python bytes.strip()', async (t) => {
  t.equal(String(trimAsciiWhitespace(Buffer.from(' \t\x0b\x0c hi there \r\n'))), 'hi there');
  t.equal(trimAsciiWhitespace(Buffer.from('  ')).length, 0);
  t.equal(String(trimAsciiWhitespace(Buffer.from('\xa0x\xa0', 'latin1'))), String(Buffer.from('\xa0x\xa0', 'latin1')));
});

t.test('chunks at the given size; empty content is one empty chunk', async (t) => {
  t.same(
    chunk(Buffer.alloc(0), 2048).map((c) => c.length),
    [0],
  );
  t.same(
    chunk(Buffer.alloc(2048), 2048).map((c) => c.length),
    [2048],
  );
  t.same(
    chunk(Buffer.alloc(4097), 2048).map((c) => c.length),
    [2048, 2048, 1],
  );
});

t.test('regression #10: a read full of newlines is cut lazily, one line per next()', async (t) => {
  const r = createLineReader(100);
  r.push(Buffer.alloc(64 * 1024, 0x0a));
  t.equal(r.pendingBytes, 64 * 1024, 'nothing is split before it is asked for');
  t.equal(r.next()?.length, 0);
  t.equal(r.pendingBytes, 64 * 1024 - 1);
  let n = 1;
  while (r.next() !== null) n++;
  t.equal(n, 64 * 1024);
  t.equal(r.linesTaken, 64 * 1024);
  t.equal(r.pendingBytes, 0);
});

t.test('a partial line spanning reads, then the rest: pendingBytes and linesTaken tell them apart', async (t) => {
  const r = createLineReader(100);
  t.same(pushAll(r, Buffer.from('ab')), []);
  t.equal(r.pendingBytes, 2);
  t.same(pushAll(r, Buffer.from('c\ndef')).map(String), ['abc']);
  t.equal(r.linesTaken, 1);
  t.equal(r.pendingBytes, 3);
  t.equal(String(r.takeRest()), 'def');
  t.equal(r.linesTaken, 2);
  t.equal(r.pendingBytes, 0);
});

t.test('an unterminated rest (EOF, a quiet one-shot client) is held to the same limit as a line', async (t) => {
  const at = createLineReader(100);
  at.push(Buffer.alloc(100, 0x61));
  t.equal(at.next(), null);
  t.equal(at.takeRest()?.length, 100, 'exactly the limit: taken');
  const withCr = createLineReader(100);
  withCr.push(Buffer.concat([Buffer.alloc(100, 0x61), Buffer.from('\r')]));
  t.equal(withCr.next(), null);
  t.equal(withCr.takeRest()?.length, 100, 'the limit and a CR: the CR goes');
  const over = createLineReader(100);
  over.push(Buffer.alloc(101, 0x61));
  t.equal(over.next(), null);
  t.equal(over.takeRest(), null, 'one byte over: refused');
  t.ok(over.overflowed);
});
