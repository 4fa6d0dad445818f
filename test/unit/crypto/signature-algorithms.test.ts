// The two schemes of the sign/verify daemons against Wycheproof vectors (positive and negative),
// and sign-then-verify round trips with the exact parameters the seed used.
import t from 'tap';
import crypto from 'node:crypto';
import { signAsync, verifyAsync, keyMismatch, type SignatureAlgorithm } from '../../../lib/crypto/signature-algorithms.js';
import { loadVectors } from '../../helpers/vectors.js';

interface VectorFile {
  publicKeyPem: string;
  tests: Array<{ tcId: number | string; comment: string; msg: string; sig: string; result: 'valid' | 'invalid' }>;
}

const files: Array<[SignatureAlgorithm, string]> = [
  ['ecdsa-p384-sha384', 'signature/wycheproof-ecdsa-p384-sha384-p1363.json'],
  ['rsa-pss-sha256', 'signature/wycheproof-rsa-pss-4096-sha256-mgf1-32.json'],
];

for (const [algorithm, file] of files) {
  t.test(`${algorithm}: ${file}`, async (t) => {
    const vectors = loadVectors<VectorFile>(file);
    t.ok(vectors.source.includes('wycheproof'), 'vector file names its source');
    const key = crypto.createPublicKey(vectors.publicKeyPem);
    t.equal(keyMismatch(algorithm, key), null);
    for (const v of vectors.tests) {
      const ok = await verifyAsync(algorithm, key, Buffer.from(v.msg, 'hex'), Buffer.from(v.sig, 'hex'));
      t.equal(ok, v.result === 'valid', `tcId ${v.tcId}: ${v.comment}`);
    }
  });
}

t.test('sign then verify; PSS salt is 32 bytes as the seed used', async (t) => {
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const message = Buffer.from('mytoken');
  const sig = await signAsync('rsa-pss-sha256', rsa.privateKey, message);
  t.ok(await verifyAsync('rsa-pss-sha256', rsa.publicKey, message, sig));
  const verifyWithSalt = (saltLength: number): boolean =>
    crypto.verify('sha256', message, { key: rsa.publicKey, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength }, sig);
  t.ok(verifyWithSalt(32), 'verifies with an explicit 32-byte salt');
  t.notOk(verifyWithSalt(20), 'not with another salt length');

  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  const ecSig = await signAsync('ecdsa-p384-sha384', ec.privateKey, message);
  t.equal(ecSig.length, 96, 'raw r||s, 96 bytes');
  t.ok(await verifyAsync('ecdsa-p384-sha384', ec.publicKey, message, ecSig));
  t.notOk(await verifyAsync('ecdsa-p384-sha384', ec.publicKey, Buffer.from('other'), ecSig));
  t.notOk(await verifyAsync('ecdsa-p384-sha384', ec.publicKey, message, Buffer.alloc(3)), 'malformed is false, not an exception');
  t.match(keyMismatch('ecdsa-p384-sha384', rsa.publicKey), /P-384/);
  t.match(keyMismatch('rsa-pss-sha256', ec.publicKey), /RSA/);
  const p256 = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  t.match(keyMismatch('ecdsa-p384-sha384', p256.publicKey), /P-384/, 'the wrong curve is refused');
});
