// HKDF-SHA256 (RFC 5869) known answers for the derived mode's key derivation (Extract by
// @noble/hashes, the one-block Expand on node:crypto), cross-checked against OpenSSL's HKDF
// (crypto.hkdfSync) for the daemon's own salt and info strings.
import crypto from 'node:crypto';
import t from 'tap';
import { derivedInfo, derivedPrk, messageKey, chooseVersions } from '../../../daemons/hmac/derived-secrets.js';
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

t.test('RFC 5869 HKDF-SHA256: a message key is the first 32 bytes of the OKM', async (t) => {
  for (const c of hmacVectors<HkdfCase>('hkdf-sha256-rfc5869.json')) {
    // The daemon's Extract always uses its own salt; the vectors' salts go through HMAC as Extract does.
    const prk = crypto.createHmac('sha256', hex(c.saltHex)).update(hex(c.ikmHex)).digest();
    t.equal(prk.toString('hex'), c.prkHex, `${c.name} PRK`);
    t.equal(messageKey(prk, hex(c.infoHex)).toString('hex'), c.okmHex.slice(0, 64), `${c.name} OKM, first block`);
  }
});

t.test('RFC 4231 HMAC-SHA256 known answers hold for the HMAC the keys are built on', async (t) => {
  for (const c of hmacVectors<HmacCase>('hmac-sha256-rfc4231.json')) {
    t.equal(crypto.createHmac('sha256', hex(c.keyHex)).update(hex(c.dataHex)).digest('hex'), c.tagHex, c.name);
  }
});

t.test('derived keys equal OpenSSL HKDF over the same salt and info', async (t) => {
  const master = crypto.randomBytes(32);
  const prk = derivedPrk(master);
  const salt = Buffer.from('signerd/hmac/derived-key/salt', 'ascii');
  for (const [version, index] of [
    [1, 0],
    [2, 0xbd3364dc],
    [7, 0xffffffff],
  ] as const) {
    const ours = messageKey(prk, derivedInfo(version, index));
    const openssl = Buffer.from(crypto.hkdfSync('sha256', master, salt, derivedInfo(version, index), 32));
    t.same(ours, openssl, `v${version} index ${index}`);
  }
  t.not(messageKey(prk, derivedInfo(1, 5)).toString('hex'), messageKey(prk, derivedInfo(2, 5)).toString('hex'), 'versions give different keys');
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
