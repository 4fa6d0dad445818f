// Each HSM mechanism against a real SoftHSM2 token: keys made by pkcs11-tool (an independent tool)
// or imported by signerd, signatures checked by node:crypto and noble, never by the code under test.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { p256 } from '@noble/curves/nist.js';
import { createToken, needSoftHsm } from '../../helpers/softhsm.js';
import { runSignerd } from '../../helpers/daemon.js';
import { openPkcs11SigningKey, type HsmSigningKey } from '../../../lib/keys/pkcs11-signing-key.js';
import { openPkcs11MacKey } from '../../../lib/keys/pkcs11-mac-key.js';
import type { HsmAlgorithm } from '../../../lib/keys/pkcs11-mechanisms.js';

const opts = needSoftHsm();
const P256_HALF_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n >> 1n;
const K1_HALF_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n >> 1n;

t.test('PKCS#11 mechanisms on SoftHSM2', opts, async (t) => {
  const token = createToken('mech-test');
  process.env['SOFTHSM2_CONF'] = token.env.SOFTHSM2_CONF;
  const keys: Array<{ close(): Promise<void> }> = [];
  t.teardown(async () => {
    for (const key of keys) await key.close();
    token.cleanup();
  });
  // pkcs11-tool makes the RSA and EC keys; signerd's own generate makes Ed25519 (pkcs11-tool 0.23 has no EdDSA keygen).
  token.pkcs11Tool(['--keypairgen', '--key-type', 'rsa:2048', '--label', 'rsa', '--id', '01']);
  token.pkcs11Tool(['--keypairgen', '--key-type', 'EC:secp384r1', '--label', 'p384', '--id', '02']);
  token.pkcs11Tool(['--keypairgen', '--key-type', 'EC:prime256v1', '--label', 'p256', '--id', '03']);
  token.pkcs11Tool(['--keypairgen', '--key-type', 'EC:secp256k1', '--label', 'k1', '--id', '04']);
  const ed = await runSignerd(['hsm', 'generate', '--key', token.uri('ed'), '--for', 'tezos-tz1'], '', token.env);
  t.equal(ed.code, 0, ed.stderr);
  const open = async <A extends HsmAlgorithm>(object: string, algorithm: A): Promise<HsmSigningKey<A>> => {
    const key = await openPkcs11SigningKey(token.uri(object), algorithm, { callMsMax: 10_000 });
    keys.push(key);
    return key;
  };
  const data = Buffer.from('the quick brown fox signs over the lazy token');

  t.test('RSA-PSS SHA-256 salt 32 (sign-rsa)', async (t) => {
    const key = await open('rsa', 'rsa-pss-sha256');
    const sig = await key.sign(data);
    t.equal(sig.length, 256);
    t.ok(
      crypto.verify('sha256', data, { key: key.publicKey, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, sig),
      'node:crypto verifies PSS salt 32',
    );
    t.notOk(crypto.verify('sha256', Buffer.from('other'), { key: key.publicKey, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, sig));
    const overDigest = await key.signDigest(crypto.createHash('sha256').update(data).digest());
    t.ok(
      crypto.verify('sha256', data, { key: key.publicKey, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, overDigest),
      'PSS over a sent digest (OP-TEE style) verifies too',
    );
  });

  t.test('RSA PKCS#1 v1.5 over a DigestInfo (firmware), whole message and digest', async (t) => {
    const key256 = await open('rsa', 'rsa-pkcs1-sha256');
    t.ok(crypto.verify('sha256', data, key256.publicKey, await key256.sign(data)));
    const key512 = await open('rsa', 'rsa-pkcs1-sha512');
    const digest = crypto.createHash('sha512').update(data).digest();
    const sig = await key512.signDigest(digest);
    t.ok(crypto.verify('sha512', data, key512.publicKey, sig), 'a signature over a sent digest verifies as over the message');
    await t.rejects(key512.signDigest(digest.subarray(0, 32)), { code: 'BAD_REQUEST' });
  });

  t.test('ECDSA P-384 SHA-384 raw r||s (sign-ecdsa)', async (t) => {
    const key = await open('p384', 'ecdsa-p384-sha384');
    const sig = await key.sign(data);
    t.equal(sig.length, 96);
    t.ok(crypto.verify('sha384', data, { key: key.publicKey, dsaEncoding: 'ieee-p1363' }, sig));
  });

  t.test('ECDSA P-256 r||s, always low-S (tezos tz3, Mender)', async (t) => {
    const key = await open('p256', 'ecdsa-p256-sha256');
    const raw = key.publicKey.export({ format: 'jwk' });
    const point = Buffer.concat([Buffer.from([4]), Buffer.from(raw.x!, 'base64url'), Buffer.from(raw.y!, 'base64url')]);
    const digest = crypto.createHash('sha256').update(data).digest();
    for (let i = 0; i < 16; i++) {
      const sig = await key.signDigest(digest);
      t.equal(sig.length, 64);
      t.ok(BigInt('0x' + sig.subarray(32).toString('hex')) <= P256_HALF_N, 'low S');
      t.ok(p256.verify(sig, digest, point, { prehash: false, lowS: true }), 'noble verifies with lowS');
    }
    t.ok(crypto.verify('sha256', data, { key: key.publicKey, dsaEncoding: 'ieee-p1363' }, await key.sign(data)));
  });

  t.test('ECDSA secp256k1 r||s, always low-S (tezos tz2)', async (t) => {
    const key = await open('k1', 'ecdsa-secp256k1-sha256');
    const raw = key.publicKey.export({ format: 'jwk' });
    const point = Buffer.concat([Buffer.from([4]), Buffer.from(raw.x!, 'base64url'), Buffer.from(raw.y!, 'base64url')]);
    const digest = crypto.createHash('sha256').update('blake2b stands in here').digest();
    for (let i = 0; i < 16; i++) {
      const sig = await key.signDigest(digest);
      t.ok(BigInt('0x' + sig.subarray(32).toString('hex')) <= K1_HALF_N, 'low S');
      t.ok(secp256k1.verify(sig, digest, point, { prehash: false, lowS: true }));
    }
  });

  t.test('EdDSA Ed25519 (tezos tz1)', async (t) => {
    const key = await open('ed', 'ed25519');
    const sig = await key.sign(data);
    t.equal(sig.length, 64);
    t.ok(crypto.verify(null, data, key.publicKey, sig));
    await t.rejects(key.signDigest(Buffer.alloc(32)), { code: 'BAD_REQUEST' });
  });

  t.test('HMAC-SHA256 with an imported generic secret (hmac)', async (t) => {
    const secret = crypto.randomBytes(32);
    const secretFile = path.join(token.dir, 'mac.secret');
    fs.writeFileSync(secretFile, secret, { mode: 0o600 });
    const made = await runSignerd(['hsm', 'import', '--key', token.uri('mac'), '--for', 'hmac', '--from', secretFile], '', token.env);
    t.equal(made.code, 0, made.stderr);
    const key = await openPkcs11MacKey(token.uri('mac'), { callMsMax: 10_000 });
    keys.push(key);
    const tag = await key.mac(data);
    t.same(tag, crypto.createHmac('sha256', secret).update(data).digest(), 'equals node:crypto HMAC over the same secret');
    t.equal(await key.verify(data, tag), true);
    t.equal(await key.verify(data, Buffer.alloc(32)), false);
    t.equal(await key.verify(data, tag.subarray(0, 16)), false);
  });

  t.test('imported PEM keys sign as their file originals verify', async (t) => {
    for (const [object, type, forDaemon, algorithm, check] of [
      ['imp-rsa', 'rsa', 'sign-rsa', 'rsa-pss-sha256', { padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }],
      ['imp-p384', 'ec', 'sign-ecdsa', 'ecdsa-p384-sha384', { dsaEncoding: 'ieee-p1363' }],
      ['imp-ed', 'ed25519', 'tezos-tz1', 'ed25519', {}],
    ] as const) {
      const pair =
        type === 'rsa'
          ? crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })
          : type === 'ec'
            ? crypto.generateKeyPairSync('ec', { namedCurve: 'secp384r1' })
            : crypto.generateKeyPairSync('ed25519');
      const file = path.join(token.dir, `${object}.pem`);
      fs.writeFileSync(file, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
      const made = await runSignerd(['hsm', 'import', '--key', token.uri(object), '--for', forDaemon, '--from', file], '', token.env);
      t.equal(made.code, 0, made.stderr);
      const key = await open(object, algorithm);
      const sig = await key.sign(data);
      const digest = algorithm === 'ed25519' ? null : algorithm === 'rsa-pss-sha256' ? 'sha256' : 'sha384';
      t.ok(crypto.verify(digest, data, { key: pair.publicKey, ...check }, sig), `${object} verifies with the original public key`);
    }
  });

  t.test('fail closed: a token whose public object does not match its private key never releases a signature', async (t) => {
    // The private key stays; its public object is replaced by another key's, so every signature fails the check.
    token.pkcs11Tool(['--keypairgen', '--key-type', 'EC:secp384r1', '--label', 'swapped', '--id', '09']);
    token.pkcs11Tool(['--delete-object', '--type', 'pubkey', '--label', 'swapped']);
    const other = path.join(token.dir, 'other-pub.der');
    fs.writeFileSync(other, crypto.generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).publicKey.export({ type: 'spki', format: 'der' }));
    token.pkcs11Tool(['--write-object', other, '--type', 'pubkey', '--label', 'swapped', '--id', '09']);
    await t.rejects(openPkcs11SigningKey(token.uri('swapped'), 'ecdsa-p384-sha384', { callMsMax: 10_000 }), {
      code: 'KEY_LOAD_FAILED',
      message: /start-up test signature failed \(SIGNATURE_CHECK_FAILED/,
    });
  });

  t.test('a key of the wrong type is refused at start-up', async (t) => {
    await t.rejects(openPkcs11SigningKey(token.uri('p256'), 'ecdsa-p384-sha384', { callMsMax: 10_000 }), { code: 'KEY_LOAD_FAILED' });
    await t.rejects(openPkcs11SigningKey(token.uri('nope'), 'rsa-pss-sha256', { callMsMax: 10_000 }), { code: 'KEY_LOAD_FAILED' });
  });
});
