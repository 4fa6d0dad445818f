// Prehashed RSA signing checked against node:crypto's own hashing signer and verifier (OpenSSL):
// PKCS#1 v1.5 must be identical; PSS must verify with the salt length chosen, including odd key sizes.
import crypto from 'node:crypto';
import t from 'tap';
import type { DigestName } from '../../../lib/crypto/digests.js';
import { signPkcs1Digest, signPssDigest, verifyPkcs1Digest, verifyPssDigest } from '../../../lib/crypto/rsa-prehashed.js';
import { readVector } from '../../integration/firmware/line-fixtures.js';

const key = crypto.createPrivateKey(readVector('keyroot/poky/swupdate/rsa-private.key'));
const pub = crypto.createPublicKey(key);
const message = Buffer.from('signerd firmware prehashed RSA test message');
const pss = (saltLength: number) => ({ padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength, mgf1HashAlgorithm: 'sha256' }) as const;

t.test('PKCS#1 v1.5 over a digest equals crypto.sign over the message', async (t) => {
  for (const hash of ['sha256', 'sha384', 'sha512'] as DigestName[]) {
    const digest = crypto.createHash(hash).update(message).digest();
    const ours = signPkcs1Digest(key, hash, digest);
    t.ok(ours.equals(crypto.sign(hash, message, { key, padding: crypto.constants.RSA_PKCS1_PADDING })), hash);
    t.ok(verifyPkcs1Digest(pub, hash, digest, ours));
    const other = Buffer.from(digest);
    other[0]! ^= 1;
    t.notOk(verifyPkcs1Digest(pub, hash, other, ours), 'another digest fails');
    t.notOk(verifyPkcs1Digest(pub, hash, digest, ours.subarray(1)), 'a short signature fails');
  }
  t.throws(() => signPkcs1Digest(key, 'sha256', Buffer.alloc(31)), RangeError);
});

t.test('PSS over a digest verifies with crypto.verify over the message', async (t) => {
  const digest = crypto.createHash('sha256').update(message).digest();
  const s32 = signPssDigest(key, digest, 32);
  t.ok(crypto.verify('sha256', message, { key: pub, ...pss(32) }, s32), 'salt 32');
  t.ok(verifyPssDigest(pub, digest, s32, 32));
  t.ok(verifyPssDigest(pub, digest, s32, 'any'));
  t.notOk(verifyPssDigest(pub, digest, s32, 20), 'wrong salt length refused when fixed');
  const sMax = signPssDigest(key, digest, 'max');
  t.ok(crypto.verify('sha256', message, { key: pub, ...pss(256 - 32 - 2) }, sMax), 'max salt = emLen - hLen - 2');
  t.notOk(sMax.equals(signPssDigest(key, digest, 'max')), 'randomised salt');
  // A signature made by OpenSSL verifies with our checker (independent encoder).
  const theirs = crypto.sign('sha256', message, { key, ...pss(32) });
  t.ok(verifyPssDigest(pub, digest, theirs, 32), 'OpenSSL PSS accepted by verifyPssDigest');
  const tampered = Buffer.from(theirs);
  tampered[100]! ^= 0x40;
  t.notOk(verifyPssDigest(pub, digest, tampered, 'any'));
});

t.test('PSS with a modulus whose bit length is 1 mod 8 (emLen < k)', async (t) => {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 1033 });
  const digest = crypto.createHash('sha256').update(message).digest();
  for (let i = 0; i < 5; i++) {
    const sig = signPssDigest(privateKey, digest, 32);
    t.ok(crypto.verify('sha256', message, { key: publicKey, ...pss(32) }, sig));
    t.ok(verifyPssDigest(publicKey, digest, sig, 32));
  }
});
