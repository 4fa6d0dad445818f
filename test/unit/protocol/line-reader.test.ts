// Framing: LF/CRLF endings, the unterminated last line, the byte limit, trimming and chunking.
import t from 'tap';
import { chunk, createLineReader, trimAsciiWhitespace } from '../../../lib/protocol/line-reader.js';

t.test('splits on LF and drops a CR before it', async (t) => {
  const r = createLineReader(100);
  t.same(r.push(Buffer.from('a\r\nbb\nc')).map(String), ['a', 'bb']);
  t.same(r.push(Buffer.from('cc\n')).map(String), ['ccc']);
  t.equal(r.takeRest(), null);
});

t.test('keeps an unterminated tail for a client that closes without LF', async (t) => {
  const r = createLineReader(100);
  r.push(Buffer.from('tail'));
  t.equal(String(r.takeRest()), 'tail');
});

t.test('overflows past the limit, with or without a newline', async (t) => {
  const r = createLineReader(4);
  t.same(r.push(Buffer.from('1234\n')).map(String), ['1234']);
  r.push(Buffer.from('1234'));
  t.notOk(r.overflowed, 'room is left for the CR of a CRLF');
  r.push(Buffer.from('56'));
  t.ok(r.overflowed);
  const r2 = createLineReader(4);
  t.same(r2.push(Buffer.from('ok\n123456\nlater\n')).map(String), ['ok']);
  t.ok(r2.overflowed);
  t.same(r2.push(Buffer.from('more\n')), []);
});

t.test('trims ASCII whitespace like Python bytes.strip()', async (t) => {
  t.equal(String(trimAsciiWhitespace(Buffer.from(' \t\x0b\x0c hi there \r\n'))), 'hi there');
  t.equal(trimAsciiWhitespace(Buffer.from('  ')).length, 0);
  t.equal(String(trimAsciiWhitespace(Buffer.from('\xa0x\xa0', 'latin1'))), String(Buffer.from('\xa0x\xa0', 'latin1')));
});

t.test('chunks at the given size; empty content is one empty chunk', async (t) => {
  t.same(chunk(Buffer.alloc(0), 2048).map((c) => c.length), [0]);
  t.same(chunk(Buffer.alloc(2048), 2048).map((c) => c.length), [2048]);
  t.same(chunk(Buffer.alloc(4097), 2048).map((c) => c.length), [2048, 2048, 1]);
});
