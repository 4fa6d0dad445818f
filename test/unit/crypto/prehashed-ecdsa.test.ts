// ECDSA over a bare digest (lib/crypto/prehashed-ecdsa.ts): checks against Wycheproof's P-256,
// secp256k1 and P-384 vectors (the digest computed here from each message), with and without the
// cached tables, and against noble's own verify on random, tampered and high-S signatures; signing
// against RFC 6979's published signatures and noble's sign, byte for byte, on all four curves.
import crypto from 'node:crypto';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import t from 'tap';
import { prehashedSigner, prehashedSignerOf, prehashedVerifier, prehashedVerifierOf, type PrehashedCurve } from '../../../lib/crypto/prehashed-ecdsa.js';
import { loadVectors } from '../../helpers/vectors.js';

interface WycheproofFile {
  curve: PrehashedCurve;
  hash: string;
  testGroups: Array<{
    publicKey: string;
    tests: Array<{ tcId: number; comment: string; msg: string; sig: string; result: 'valid' | 'invalid' | 'acceptable' }>;
  }>;
}

for (const file of ['wycheproof-ecdsa-p256-sha256-p1363', 'wycheproof-ecdsa-p256-sha512-p1363', 'wycheproof-ecdsa-secp256k1-sha256-p1363']) {
  t.test(file, async (t) => {
    const vectors = loadVectors<WycheproofFile>(`signature/${file}.json`);
    let checked = 0;
    vectors.testGroups.forEach((group, i) => {
      // The first groups also run with tables from the first check, so both paths meet the vectors.
      for (const tablesAfter of i < 6 ? [Infinity, 0] : [Infinity]) {
        let verifier: ReturnType<typeof prehashedVerifier> | null = null;
        try {
          verifier = prehashedVerifier(vectors.curve, Buffer.from(group.publicKey, 'hex'), tablesAfter);
        } catch {
          // An invalid public key: no signature under it may verify.
        }
        for (const v of group.tests) {
          const digest = crypto.createHash(vectors.hash).update(Buffer.from(v.msg, 'hex')).digest();
          const ok = verifier?.verify(digest, Buffer.from(v.sig, 'hex'), false) ?? false;
          if (ok !== (v.result === 'valid')) t.fail(`tcId ${v.tcId} (${v.comment}): ${ok}, expected ${v.result}`);
          checked++;
        }
      }
    });
    t.ok(checked > 250, `${checked} vectors agree`);
  });
}

t.test('P-384 vectors through a KeyObject', async (t) => {
  const vectors = loadVectors<{ publicKeyPem: string; tests: Array<{ tcId: number; msg: string; sig: string; result: string }> }>(
    'signature/wycheproof-ecdsa-p384-sha384-p1363.json',
  );
  const verifier = prehashedVerifierOf(crypto.createPublicKey(vectors.publicKeyPem));
  for (const v of vectors.tests) {
    const digest = crypto.createHash('sha384').update(Buffer.from(v.msg, 'hex')).digest();
    t.equal(verifier.verify(digest, Buffer.from(v.sig, 'hex'), false), v.result === 'valid', `tcId ${v.tcId}`);
  }
});

t.test("agrees with noble's verify on one key checked many times (the tables path)", async (t) => {
  for (const [name, curve] of [
    ['p256', p256],
    ['secp256k1', secp256k1],
  ] as const) {
    const secret = curve.utils.randomSecretKey();
    const verifier = prehashedVerifier(name, curve.getPublicKey(secret, true), 2);
    let disagreements = 0;
    for (let i = 0; i < 16; i++) {
      const digest = crypto.randomBytes(32);
      const sig = curve.sign(digest, secret, { prehash: false, lowS: false, format: 'compact' });
      const tampered = Uint8Array.from(sig);
      tampered[i % 64]! ^= 1 << (i % 8);
      const highS = curve.Signature.fromBytes(sig, 'compact');
      const twin = new curve.Signature(highS.r, curve.Point.Fn.neg(highS.s)).toBytes('compact');
      for (const [s, d] of [
        [sig, digest],
        [tampered, digest],
        [sig, crypto.randomBytes(32)],
        [twin, digest],
      ] as const) {
        for (const lowS of [false, true]) {
          const ours = verifier.verify(d, s, lowS);
          const theirs = curve.verify(s, d, curve.getPublicKey(secret), { prehash: false, lowS, format: 'compact' });
          if (ours !== theirs) disagreements++;
        }
      }
    }
    t.equal(disagreements, 0, `${name}: 256 checks agree with noble`);
  }
});

t.test('malformed input is false, a bad key is refused at construction', async (t) => {
  const verifier = prehashedVerifier('p256', p256.getPublicKey(p256.utils.randomSecretKey()));
  t.equal(verifier.verify(Buffer.alloc(32), Buffer.alloc(63), false), false, 'a short signature');
  t.equal(verifier.verify(Buffer.alloc(32), Buffer.alloc(64), false), false, 'r = s = 0');
  t.throws(() => prehashedVerifier('p256', Buffer.from('04' + '00'.repeat(64), 'hex')), 'a point not on the curve');
});

t.test("RFC 6979's signatures, from a scalar and from a KeyObject", async (t) => {
  const vectors = loadVectors<{ cases: Array<{ curve: PrehashedCurve; hash: string; message: string; privateKey: string; r: string; s: string }> }>(
    'signature/rfc6979-ecdsa.json',
  );
  for (const c of vectors.cases) {
    const digest = crypto.createHash(c.hash).update(c.message).digest();
    const secret = Buffer.from(c.privateKey, 'hex');
    const expected = (c.r + c.s).toLowerCase();
    t.equal(prehashedSigner(c.curve, secret).sign(digest, false).toString('hex'), expected, `${c.curve} ${c.hash} "${c.message}"`);
    const curve = { p256, p384, p521, secp256k1 }[c.curve];
    const point = curve.getPublicKey(secret, false);
    const size = (point.length - 1) / 2;
    const keyObject = crypto.createPrivateKey({
      key: {
        kty: 'EC',
        crv: { p256: 'P-256', p384: 'P-384', p521: 'P-521', secp256k1: 'secp256k1' }[c.curve],
        d: secret.subarray(secret.length - size).toString('base64url'),
        x: Buffer.from(point.subarray(1, 1 + size)).toString('base64url'),
        y: Buffer.from(point.subarray(1 + size)).toString('base64url'),
      },
      format: 'jwk',
    });
    t.equal(prehashedSignerOf(keyObject).sign(digest, false).toString('hex'), expected, `${c.curve}: the same through a KeyObject`);
  }
});

t.test('signs the bytes noble signs, on all four curves and both S halves, and each verifies', async (t) => {
  for (const [name, curve] of [
    ['p256', p256],
    ['p384', p384],
    ['p521', p521],
    ['secp256k1', secp256k1],
  ] as const) {
    const secret = curve.utils.randomSecretKey();
    const signer = prehashedSigner(name, secret);
    const verifier = prehashedVerifier(name, curve.getPublicKey(secret, true), 4);
    let differences = 0;
    let refused = 0;
    for (let i = 0; i < 24; i++) {
      // Digests shorter, equal and longer than the order, as the schemes here pass them.
      const digest = crypto.randomBytes([32, 48, 64][i % 3]!);
      const lowS = i % 2 === 0;
      const ours = signer.sign(digest, lowS);
      const noble = curve.sign(digest, secret, { prehash: false, lowS, format: 'compact' });
      if (!ours.equals(noble)) differences++;
      if (!verifier.verify(digest, ours, lowS)) refused++;
    }
    t.equal(differences, 0, `${name}: 24 signatures equal noble's`);
    t.equal(refused, 0, `${name}: each verifies`);
  }
  t.throws(() => prehashedSigner('p256', Buffer.alloc(32)), 'a zero scalar is refused');
  t.throws(() => prehashedSigner('p256', Buffer.alloc(32, 0xff)), 'a scalar beyond the order is refused');
});
