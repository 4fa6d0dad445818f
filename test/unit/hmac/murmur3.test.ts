// MurmurHash3 x86_32 against published values (the crate's seed, Wikipedia's seeds) and the
// cryptoserver selection table from the seed notes.
import t from 'tap';
import { CRYPTOSERVER_SEED, murmur3x86_32 } from '../../../daemons/hmac/murmur3.js';
import { keyIdFor } from '../../../daemons/hmac/secret-set.js';
import { hex, hmacVectors } from './hmac-vectors.js';

interface HashCase {
  source: string;
  dataHex: string;
  seed: number;
  hash: number;
}
interface SelectionCase {
  dataHex: string;
  hash: number;
  mode16Index: number;
  mode16Offset: number;
  mode32File: string;
  mode32Index: number;
}

t.test('published MurmurHash3 x86_32 values', async (t) => {
  const cases = hmacVectors<HashCase>('murmur3-x86-32.json');
  t.ok(cases.length >= 16);
  for (const c of cases)
    t.equal(murmur3x86_32(hex(c.dataHex), c.seed), c.hash, `${c.source} ${JSON.stringify(hex(c.dataHex).toString('latin1'))} seed ${c.seed}`);
  t.equal(CRYPTOSERVER_SEED, 3242157231);
});

t.test('cryptoserver secret selection (seed notes §2.5)', async (t) => {
  const cases = hmacVectors<SelectionCase>('cryptoserver-selection.json');
  for (const c of cases) {
    const h = murmur3x86_32(hex(c.dataHex));
    t.equal(h, c.hash);
    t.equal((h & 0xffff) * 32, c.mode16Offset);
    t.equal(keyIdFor('mode16', h, 0), `0000:${c.mode16Index}`);
    t.equal(keyIdFor('mode32', h, 0), `${c.mode32File}:${c.mode32Index}`);
  }
});

t.test('every length 0..9 and unaligned views', async (t) => {
  // Views into a larger buffer must hash like standalone copies (byteOffset is respected).
  const big = Buffer.from('xxthe quick brown fox');
  for (let n = 0; n <= 9; n++) t.equal(murmur3x86_32(big.subarray(2, 2 + n)), murmur3x86_32(Buffer.from(big.subarray(2, 2 + n))));
});
