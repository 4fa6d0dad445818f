// Tezos keys against Taquito's published vectors (tz1-tz4, encrypted, PoP), plus independent checks:
// every key we generate or load signs what @taquito/signer signs and @taquito/utils verifies it.
import crypto from 'node:crypto';
import t from 'tap';
import { InMemorySigner } from '@taquito/signer';
import { verifySignature } from '@taquito/utils';
import { isDaemonError } from '../../../lib/errors.js';
import { b58checkDecode, b58checkEncode } from '../../../daemons/tezos/keys/base58check.js';
import { encryptSecretKey } from '../../../daemons/tezos/keys/secret-key-encryption.js';
import type { TezosCurve } from '../../../daemons/tezos/keys/curve-signature.js';
import { generateTezosKey, loadTezosKey, verifyProofOfPossession, verifyTezosSignature } from '../../../daemons/tezos/keys/tezos-key.js';
import { hex, loadTezosVectors, type SignerVectors, type VerifyVectors } from './tezos-vectors.js';
import { codeOf } from '../../helpers/error-codes.js';

const signerVectors = loadTezosVectors<SignerVectors>('taquito-signer.json');
const verifyVectors = loadTezosVectors<VerifyVectors>('taquito-verify.json');
const CURVES: TezosCurve[] = ['ed25519', 'secp256k1', 'p256', 'bls12-381'];
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

/** Taquito reports tz1-tz3 signatures in the generic `sig…` form. */
function generic(signature: string): string {
  for (const prefix of ['edsig', 'spsig1', 'p2sig'] as const) {
    const raw = b58checkDecode(prefix, signature);
    if (raw) return b58checkEncode('sig', raw);
  }
  return signature;
}

t.test('Taquito InMemorySigner vectors: keys, hashes and deterministic signatures', async (t) => {
  const message = hex(signerVectors.message);
  for (const v of signerVectors.keys) {
    const key = loadTezosKey(v.secretKey, v.passphrase === undefined ? undefined : Buffer.from(v.passphrase));
    t.equal(key.pkh, v.pkh, `${v.name}: pkh`);
    t.equal(key.publicKey, v.publicKey, `${v.name}: public key`);
    const signature = await key.sign(message);
    if (v.signature !== null) t.equal(generic(signature), v.signature, `${v.name}: signature`);
    t.ok(verifyTezosSignature(v.publicKey, message, signature), `${v.name}: our verify`);
    if (v.decrypted) t.equal(loadTezosKey(v.decrypted).pkh, v.pkh, `${v.name}: decrypted form is the same key`);
  }
});

t.test('Taquito tz4 vectors: POP signature and proof of possession', async (t) => {
  const v = signerVectors.bls;
  const key = loadTezosKey(v.secretKey);
  t.equal(key.curve, 'bls12-381');
  t.equal(key.pkh, v.pkh);
  t.equal(key.publicKey, v.publicKey);
  t.equal(await key.sign(hex(v.message)), v.signaturePop, 'no version: POP scheme');
  t.equal(await key.sign(hex(v.message), { version: 2 }), v.signaturePop, 'version 2: POP scheme');
  t.equal(await key.provePossession!(), v.proofOfPossession);
  t.ok(verifyProofOfPossession(v.publicKey, v.proofOfPossession));
  const pop = verifyVectors.proofOfPossession;
  t.ok(verifyProofOfPossession(pop.publicKey, pop.proof), 'verify-only PoP vector');
  t.notOk(verifyProofOfPossession(v.publicKey, pop.proof), 'PoP of another key');
});

t.test('tz4 AUG scheme for signature versions 0 and 1', async (t) => {
  const v = signerVectors.bls;
  const key = loadTezosKey(v.secretKey);
  const payload = hex('13af1864d9');
  const aug = await key.sign(payload, { version: 1 });
  t.not(aug, await key.sign(payload), 'AUG differs from POP');
  t.equal(await key.sign(payload, { version: 0 }), aug, 'version 0 is AUG too');
  t.ok(verifyTezosSignature(v.publicKey, payload, aug, { version: 1 }));
  t.notOk(verifyTezosSignature(v.publicKey, payload, aug), 'an AUG signature does not pass as POP');
  t.notOk(verifySignature(payload, v.publicKey, aug), 'Taquito (POP only) rejects it as well');
});

t.test('Taquito verifySignature vectors, positive and negative', async (t) => {
  for (const c of verifyVectors.cases) {
    const message = hex(c.message);
    t.ok(verifyTezosSignature(c.publicKey, message, c.signature), `${c.name}: curve prefix`);
    t.ok(verifyTezosSignature(c.publicKey, message, c.genericSignature), `${c.name}: generic sig prefix`);
    t.notOk(verifyTezosSignature(c.wrongPublicKey, message, c.signature), `${c.name}: wrong key`);
    const altered = Buffer.from(message);
    altered[1] = 0x22;
    t.notOk(verifyTezosSignature(c.publicKey, altered, c.signature), `${c.name}: altered message`);
  }
  t.notOk(verifyTezosSignature('edpkgarbage', hex('03'), 'sigbad'), 'malformed inputs are just false');
  // The BLS identity key with the identity signature satisfies the pairing equation for any message.
  const identityKey = b58checkEncode('BLpk', Buffer.concat([Buffer.from([0xc0]), Buffer.alloc(47)]));
  const identitySig = b58checkEncode('BLsig', Buffer.concat([Buffer.from([0xc0]), Buffer.alloc(95)]));
  t.notOk(verifyTezosSignature(identityKey, hex('03'), identitySig), 'BLS identity key and signature refused');
  t.notOk(verifyProofOfPossession(identityKey, identitySig), 'identity proof of possession refused');
});

t.test('low-S: secp256k1 high-S refused, P-256 high-S accepted as octez does, ours always low-S', async (t) => {
  const tz3 = signerVectors.keys.find((k) => k.highSTwin)!;
  t.ok(verifyTezosSignature(tz3.publicKey, hex(signerVectors.message), tz3.highSTwin!), 'P-256 high-S twin verifies');
  const tz2 = loadTezosKey(signerVectors.keys.find((k) => k.pkh.startsWith('tz2'))!.secretKey);
  const payload = hex('03cafe');
  const raw = b58checkDecode('spsig1', await tz2.sign(payload))!;
  const s = BigInt('0x' + raw.subarray(32).toString('hex'));
  t.ok(s <= SECP256K1_N / 2n, 'our secp256k1 s is low');
  const high = Buffer.concat([raw.subarray(0, 32), Buffer.from((SECP256K1_N - s).toString(16).padStart(64, '0'), 'hex')]);
  t.notOk(verifyTezosSignature(tz2.publicKey, payload, b58checkEncode('spsig1', high)), 'high-S twin refused');
});

t.test('generated keys agree with @taquito/signer and @taquito/utils on every curve', async (t) => {
  for (const curve of CURVES) {
    const { secretKey, key } = generateTezosKey(curve);
    t.equal(loadTezosKey(secretKey).pkh, key.pkh, `${curve}: reloads`);
    const taquito = await InMemorySigner.fromSecretKey(secretKey);
    t.equal(await taquito.publicKeyHash(), key.pkh, `${curve}: Taquito derives the same pkh`);
    t.equal(await taquito.publicKey(), key.publicKey, `${curve}: and the same public key`);
    for (let i = 0; i < 3; i++) {
      const payload = Buffer.concat([Buffer.from([0x03]), crypto.randomBytes(40 + i)]);
      const ours = await key.sign(payload);
      t.ok(verifySignature(payload, key.publicKey, ours), `${curve}: Taquito verifies our signature`);
      const theirs = await taquito.sign(payload.toString('hex'));
      t.equal(
        curve === 'bls12-381' ? ours : generic(ours),
        curve === 'bls12-381' ? theirs.prefixSig : theirs.sig,
        `${curve}: same deterministic signature as Taquito`,
      );
    }
    if (curve === 'bls12-381') {
      const proof = await key.provePossession!();
      t.ok(verifySignature(b58checkDecode('BLpk', key.publicKey)!, key.publicKey, proof, undefined, true), 'Taquito verifies our PoP');
    } else {
      t.equal(key.provePossession, undefined, `${curve}: no proof of possession`);
    }
  }
});

t.test('bls_pk override: the proof is over the given key', async (t) => {
  const { key } = generateTezosKey('bls12-381');
  const other = generateTezosKey('bls12-381').key;
  const proof = await key.provePossession!(other.publicKey);
  t.notOk(verifyProofOfPossession(other.publicKey, proof), 'not a proof by the other key');
  t.not(proof, await key.provePossession!());
  await t.rejects(key.provePossession!('edpkuhmrbunxumoiVdQuxBZUPMmwkPt7yLtY5Qnua3VJVTLWr3vXXa'), { code: 'BAD_REQUEST' });
});

t.test('encrypted keys: octez format round trip, wrong or missing passphrase', async (t) => {
  const v = signerVectors.keys.find((k) => k.passphrase)!;
  t.equal(
    codeOf(() => loadTezosKey(v.secretKey)),
    'KEY_LOAD_FAILED',
    'no passphrase',
  );
  t.equal(
    codeOf(() => loadTezosKey(v.secretKey, Buffer.from('wrong'))),
    'KEY_LOAD_FAILED',
    'wrong passphrase',
  );
  for (const curve of CURVES) {
    const { secretKey, key } = generateTezosKey(curve);
    const names = { ed25519: ['edsk', 'edesk'], secp256k1: ['spsk', 'spesk'], p256: ['p2sk', 'p2esk'], 'bls12-381': ['BLsk', 'BLesk'] } as const;
    const [plain, encrypted] = names[curve];
    const sealed = b58checkEncode(encrypted, encryptSecretKey(b58checkDecode(plain, secretKey)!, Buffer.from('pass phrase')));
    t.ok(sealed.startsWith(encrypted), `${curve}: ${encrypted}`);
    t.equal(loadTezosKey(sealed, Buffer.from('pass phrase')).pkh, key.pkh, `${curve}: decrypts to the same key`);
    const taquito = await InMemorySigner.fromSecretKey(sealed, 'pass phrase');
    t.equal(await taquito.publicKeyHash(), key.pkh, `${curve}: Taquito decrypts it too`);
  }
});

t.test('malformed secrets are KEY_LOAD_FAILED and never echoed', async (t) => {
  const v = signerVectors.keys[0]!;
  for (const bad of ['', 'edsk', v.secretKey.slice(0, -1) + 'x', v.publicKey, 'tz1b9kV41KV9N3sp69ycLdSoZ2Ak8jXwtNPv']) {
    try {
      loadTezosKey(bad);
      t.fail(`accepted ${bad}`);
    } catch (err) {
      t.equal(isDaemonError(err) && err.code, 'KEY_LOAD_FAILED');
      t.notMatch((err as Error).message, v.secretKey.slice(4, 20), 'message does not contain the secret');
    }
  }
  // Scalars at the group order: noble would reduce them, octez refuses them.
  const blsOrder = 0x73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001n;
  const le = Buffer.from(blsOrder.toString(16).padStart(64, '0'), 'hex').reverse();
  t.equal(
    codeOf(() => loadTezosKey(b58checkEncode('BLsk', le))),
    'KEY_LOAD_FAILED',
    'BLsk = r',
  );
  const n = Buffer.from(SECP256K1_N.toString(16), 'hex');
  t.equal(
    codeOf(() => loadTezosKey(b58checkEncode('spsk', n))),
    'KEY_LOAD_FAILED',
    'spsk = n',
  );
  t.equal(
    codeOf(() => loadTezosKey(b58checkEncode('p2sk', Buffer.alloc(32)))),
    'KEY_LOAD_FAILED',
    'p2sk = 0',
  );
  // A 64-byte edsk whose public half does not belong to its seed.
  const raw = b58checkDecode('edsk64', signerVectors.keys[2]!.secretKey)!;
  raw[40] = (raw[40] ?? 0) ^ 1;
  t.equal(
    codeOf(() => loadTezosKey(b58checkEncode('edsk64', raw))),
    'KEY_LOAD_FAILED',
  );
});
