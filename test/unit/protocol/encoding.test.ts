// Strict wire decoders: hex and base64 fields are refused whole, never read as a shorter value.
import t from 'tap';
import { DaemonError } from '../../../lib/errors.js';
import { decodeBase64, decodeHex } from '../../../lib/protocol/encoding.js';

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof DaemonError && err.code === 'BAD_REQUEST') return err.message;
    throw err;
  }
  return 'accepted';
}

t.test('hex: any case in, bytes out', async (t) => {
  t.same(decodeHex('00ff7A', 'f', 10), Buffer.from([0, 255, 122]));
  t.same(decodeHex('', 'f', 10), Buffer.alloc(0));
  t.same(decodeHex('AbCdEf0123456789', 'f', 8), Buffer.from('abcdef0123456789', 'hex'));
});

t.test('hex: anything else is refused, not truncated', async (t) => {
  // 'İ' (U+0130) has low byte 0x30: Node's own decoder would read it as '0'.
  for (const text of ['0', 'abc', 'zz', '0g', 'g0', '00 ', ' 00', '0x00', 'ab\u0000', '\u00ff0', '0\u0130', '\u0130\u0130', 'ab:d']) {
    t.equal(
      refusal(() => decodeHex(text, 'signature', 100)),
      'signature is not hex',
      JSON.stringify(text),
    );
  }
});

t.test('hex: the byte limit', async (t) => {
  t.equal(decodeHex('00'.repeat(4), 'f', 4).length, 4);
  t.equal(
    refusal(() => decodeHex('00'.repeat(5), 'signature', 4)),
    'signature is longer than 4 bytes',
  );
});

t.test('base64: canonical padding only, and the byte limit', async (t) => {
  t.same(decodeBase64('AAE=', 'f', 2), Buffer.from([0, 1]));
  for (const text of ['AAE', 'A===', 'AA E=', '-_8='])
    t.equal(
      refusal(() => decodeBase64(text, 'data', 10)),
      'data is not base64',
      text,
    );
  t.equal(
    refusal(() => decodeBase64('AAEC', 'data', 2)),
    'data is longer than 2 bytes',
  );
});
