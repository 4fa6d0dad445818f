// HKDF-SHA256 (RFC 5869) and HMAC-SHA256 (RFC 4231) known answers for the derived mode's code,
// cross-checked against OpenSSL's HKDF (crypto.hkdfSync) for the daemon's own info strings.
import crypto from 'node:crypto';
import t from 'tap';
import { DERIVED_SALT, derivedInfo, hkdfExpand, hkdfExtract, chooseVersions } from '../../../daemons/hmac/derived-secrets.js';
import { hex, hmacVectors } from './hmac-vectors.js';

interface HkdfCase {
  name: string;
  ikmHex: string;
  saltHex: string;
  infoHex: string;
  length: number;
  prkHex: string;
  okmHex: string;
}
interface HmacCase {
  name: string;
  keyHex: string;
  dataHex: string;
  tagHex: string;
}

t.test('RFC 5869 HKDF-SHA256', async (t) => {
  for (const c of hmacVectors<HkdfCase>('hkdf-sha256-rfc5869.json')) {
    const prk = hkdfExtract(hex(c.saltHex), hex(c.ikmHex));
    t.equal(prk.toString('hex'), c.prkHex, `${c.name} PRK`);
    t.equal(hkdfExpand(prk, hex(c.infoHex), c.length).toString('hex'), c.okmHex, `${c.name} OKM`);
  }
});

t.test('RFC 4231 HMAC-SHA256 (hkdfExtract is HMAC(salt, ikm))', async (t) => {
  for (const c of hmacVectors<HmacCase>('hmac-sha256-rfc4231.json')) t.equal(hkdfExtract(hex(c.keyHex), hex(c.dataHex)).toString('hex'), c.tagHex, c.name);
});

t.test('derived keys equal OpenSSL HKDF over the same salt and info', async (t) => {
  const master = crypto.randomBytes(32);
  const prk = hkdfExtract(DERIVED_SALT, master);
  for (const [version, index] of [
    [1, 0],
    [2, 0xbd3364dc],
    [7, 0xffffffff],
  ] as const) {
    const ours = hkdfExpand(prk, derivedInfo(version, index), 32);
    const openssl = Buffer.from(crypto.hkdfSync('sha256', master, DERIVED_SALT, derivedInfo(version, index), 32));
    t.same(ours, openssl, `v${version} index ${index}`);
  }
  t.not(hkdfExpand(prk, derivedInfo(1, 5), 32).toString('hex'), hkdfExpand(prk, derivedInfo(2, 5), 32).toString('hex'), 'versions give different keys');
});

t.test('version choice', async (t) => {
  t.same(chooseVersions([1, 2, 3], null, null), [3, 1, 2], 'current = highest, others accepted');
  t.same(chooseVersions([1, 2, 3], 2, null), [2, 1, 3]);
  t.same(chooseVersions([1, 2, 3], null, []), [3], 'none accepted');
  t.same(chooseVersions([1, 2, 3], 3, [1, 3]), [3, 1]);
  t.throws(() => chooseVersions([], null, null), { code: 'KEY_LOAD_FAILED' });
  t.throws(() => chooseVersions([1, 2, 3, 4, 5, 6, 7, 8, 9], null, null), { code: 'KEY_LOAD_FAILED', message: /9 key versions .*max 8/ });
  t.same(chooseVersions([1, 2, 3, 4, 5, 6, 7, 8, 9], null, [8]), [9, 8], 'pinning keeps it bounded');
});
