// The line protocol with the real `nc` (netcat-openbsd), as an operator or shell script uses it:
// one request line, one reply line; bad input gets one ERR line and the daemon keeps serving.
// The daemon is served in the test process; nc is a real process on a real socket.
import net from 'node:net';
import t from 'tap';
import { needTools } from '../../helpers/tools.js';
import { exchange } from '../../helpers/line-client.js';
import { http, httpSign, nc, seedKeys, serveTezos, tempDir, TZ1, TZ4, writeKeys } from './fixtures.js';
import { blsAttestation, consensus, michelson } from './payloads.js';
import { b58DecodeAndCheckPrefix, b58Encode, PrefixV2, verifySignature } from '@taquito/utils';
import { bls12_381 } from '@noble/curves/bls12-381.js';
import { verifyTezosSignature } from '../../../daemons/tezos/keys/tezos-key.js';

/** Taquito's proof-of-possession vector for TZ4 (tezos.md 5.1). */
const TZ4_POP =
  'BLsigAp94rBWCJU7yM7X5F4zSw15AKkW1JZ5dwkqa2Xjdo1y4jhcQKVf6Sh7GFV261MUEx3WbfStUkP83tmKRpAucD4NEo1bLCB3s1TM4ByDUYZ1vUV5qsAWFLagvbnHfn61DnouoxmTij';

t.test('line protocol through nc', needTools('nc'), async (t) => {
  const dir = tempDir(t);
  const keysFile = writeKeys(dir, seedKeys([TZ1, TZ4]));
  const { linePort, httpPort, logs } = await serveTezos(t, keysFile, [
    '--state-dir',
    `${dir}/state`,
    '--allow-list-known-keys',
    '--allow-to-prove-possession',
    '--payload-bytes-max',
    '1024',
  ]);

  const att = consensus('attestation', { level: 7, round: 0 });
  const [sig] = await nc(linePort, `sign ${TZ1.pkh} ${att.toString('hex')}\n`);
  t.match(sig, /^edsig/, 'sign <pkh> <hex> → the b58 signature');
  t.ok(verifyTezosSignature(TZ1.pk, att, sig!), 'the signature verifies');

  const replies = await nc(
    linePort,
    [
      `pubkey ${TZ1.pkh}`,
      'keys',
      'authorized_keys',
      'ping',
      `sign ${TZ1.pkh} ${att.toString('hex')}`,
      `sign ${TZ1.pkh} ${consensus('attestation', { level: 7, round: 0, variant: 'b' }).toString('hex')}`,
      `sign ${TZ1.pkh} ${consensus('attestation', { level: 6, round: 3 }).toString('hex')}`,
      `sign ${TZ1.pkh} zz`,
      `sign ${TZ1.pkh} 13ab`,
      `sign ${TZ1.pkh} ${michelson().toString('hex')}`,
      `sign ${TZ1.pkh} 99${'00'.repeat(40)}`,
      `sign tz1RvhdZ5pcjD19vCCK9PgZpnmErTba3dsBs ${att.toString('hex')}`,
      `sign ${TZ1.pkh} ${'03'.repeat(1100)}`,
      `sign ${TZ1.pkh} ${att.toString('hex')} version=9`,
      'frobnicate',
      `pop ${TZ1.pkh}`,
    ].join('\n') + '\n',
  );
  t.equal(replies.length, 16, 'one reply line per request line');
  t.equal(replies[0], TZ1.pk, 'pubkey');
  t.equal(replies[1], `${TZ1.pkh} ${TZ4.pkh}`, 'keys (with --allow-list-known-keys)');
  t.equal(replies[2], 'none', 'authorized_keys: none required');
  t.equal(replies[3], 'pong');
  t.equal(replies[4], sig, 'identical bytes: the same signature');
  t.match(replies[5], /^ERR WATERMARK_REJECTED .*7\/0.*7\/0/, 'other bytes, same slot: refused, naming both marks');
  t.match(replies[6], /^ERR WATERMARK_REJECTED .*6\/3.*7\/0/, 'lower level: refused');
  t.match(replies[7], /^ERR BAD_REQUEST /, 'not hex');
  t.match(replies[8], /^ERR BAD_REQUEST /, 'truncated attestation');
  t.match(replies[9], /^ERR NOT_ALLOWED /, 'Michelson data (0x05) is denied by default');
  t.match(replies[10], /^ERR NOT_ALLOWED /, 'unknown magic byte');
  t.match(replies[11], /^ERR UNKNOWN_KEY /, 'unknown key');
  t.match(replies[12], /^ERR PAYLOAD_TOO_LARGE /, 'payload over --payload-bytes-max');
  t.match(replies[13], /^ERR BAD_REQUEST /, 'bad version option');
  t.match(replies[14], /^ERR UNKNOWN_VERB /, 'unknown verb');
  t.match(replies[15], /^ERR BAD_REQUEST /, 'pop for a non-BLS key');

  const [proof] = await nc(linePort, `pop ${TZ4.pkh}\n`);
  t.equal(proof, TZ4_POP, 'pop <tz4> → the reference proof of possession');
  const res = await fetch(`http://127.0.0.1:${httpPort}/bls_prove_possession/${TZ4.pkh}`);
  t.same(await res.json(), { bls_prove_possession: TZ4_POP }, 'GET /bls_prove_possession/<tz4>');
  const bls = blsAttestation({ level: 9, round: 0 });
  const [blsSig] = await nc(linePort, `sign ${TZ4.pkh} ${bls.toString('hex')} version=2\n`);
  t.match(blsSig, /^BLsig/, 'tz4 signs the slot-less BLS attestation');
  t.ok(verifySignature(bls.toString('hex'), TZ4.pk, blsSig!), 'POP-scheme signature verifies with @taquito/utils');
  const [again] = await nc(linePort, `sign ${TZ4.pkh} ${bls.toString('hex')} version=1\n`);
  t.match(again, /^ERR WATERMARK_REJECTED /, 'the same bytes under another scheme version are not signed twice');
  const [v0] = await nc(linePort, `sign ${TZ4.pkh} ${blsAttestation({ level: 10, round: 0 }).toString('hex')} version=0\n`);
  t.match(v0, /^ERR BAD_REQUEST Failed to handle secret key in Signature version 0/, 'tz4 with version=0 is refused, as octez does');
  const slotted = consensus('attestation', { level: 11, round: 0 }).toString('hex');
  const [pop] = await nc(linePort, `sign ${TZ4.pkh} ${slotted}\n`);
  t.match(pop, /^ERR NOT_ALLOWED consensus tag 21 carries a slot/, 'tz4, a tag with a slot, POP (Seoul on): refused, as the protocol would');
  const [aug] = await nc(linePort, `sign ${TZ4.pkh} ${slotted} version=1\n`);
  t.match(aug, /^BLsig/, 'with version=1 (AUG, Rio and before) it is signed');

  const long = await exchange(linePort, ['x'.repeat(200_000)]);
  t.match(long[0], /^ERR LINE_TOO_LONG /, 'overlong line: ERR LINE_TOO_LONG');
  const [still] = await nc(linePort, 'ping\n');
  t.equal(still, 'pong', 'the daemon keeps serving');

  // A line that stalls part-way is not taken as it is after 20 ms, as the seed daemons' lines are:
  // the whole line is signed once its LF comes.
  const stalled = consensus('attestation', { level: 8, round: 0 });
  const whole = `sign ${TZ1.pkh} ${stalled.toString('hex')}\n`;
  const replies2 = await new Promise<string>((resolve, reject) => {
    const socket = net.connect(linePort, '127.0.0.1', () => {
      socket.write(whole.slice(0, 60));
      setTimeout(() => socket.write(whole.slice(60)), 200);
    });
    let got = '';
    // The reply line is what is awaited (the daemon may keep the connection open).
    socket.on('data', (d: Buffer) => {
      got += d.toString();
      if (got.includes('\n')) {
        socket.destroy();
        resolve(got);
      }
    });
    socket.on('close', () => resolve(got));
    socket.on('error', reject);
  });
  t.equal(replies2.split('\n').filter(Boolean).length, 1, 'one reply');
  t.ok(verifyTezosSignature(TZ1.pk, stalled, replies2.trim()), 'over the whole operation, not the part before the stall');
  const [ended] = await nc(linePort, 'ping');
  t.equal(ended, 'pong', 'a last line without LF still counts when the client half-closes');
  t.ok(
    logs.some((l) => l['msg'] === 'request' && typeof l['refusedPayloads'] === 'number'),
    'refused unknown payloads are counted in the log',
  );
  const signed = logs.find((l) => l['msg'] === 'request' && l['kind'] === 'attestation' && l['blockLevel'] === 8);
  t.equal(signed?.['level'], 'info', "the record's level stays the log level; the block's is blockLevel");
});

t.test('tz4 over HTTP: version picks POP or AUG, /known_keys and bls_pk when enabled', async (t) => {
  const dir = tempDir(t);
  const keysFile = writeKeys(dir, seedKeys([TZ1, TZ4]));
  const { httpPort } = await serveTezos(t, keysFile, ['--state-dir', `${dir}/state`, '--allow-list-known-keys', '--allow-to-prove-possession']);
  const [pk] = b58DecodeAndCheckPrefix(TZ4.pk, [PrefixV2.BLS12_381PublicKey]);
  const sigBytes = (sig: string): Uint8Array => b58DecodeAndCheckPrefix(sig, [PrefixV2.BLS12_381Signature])[0];
  // Independent of the daemon's code: noble's BLS with the ciphersuites' domain tags, as octez signs.
  const verifies = (sig: string, msg: Uint8Array, dst: string): boolean =>
    bls12_381.longSignatures.verify(sigBytes(sig), bls12_381.longSignatures.hash(msg, dst), pk);

  t.same((await http(httpPort, 'GET', '/known_keys')).body, { known_keys: [TZ1.pkh, TZ4.pkh] }, 'GET /known_keys when enabled');

  const pop = blsAttestation({ level: 20, round: 0 });
  const popSig = await httpSign(httpPort, TZ4.pkh, pop, '?version=2');
  t.equal(popSig.status, 200);
  t.ok(verifies(popSig.signature!, pop, 'BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_'), 'version=2: POP ciphersuite over the bytes');
  t.ok(verifySignature(pop.toString('hex'), TZ4.pk, popSig.signature!), 'and @taquito/utils agrees');

  const aug = blsAttestation({ level: 21, round: 0 });
  const augSig = await httpSign(httpPort, TZ4.pkh, aug, '?version=1');
  t.equal(augSig.status, 200);
  t.ok(verifies(augSig.signature!, Buffer.concat([pk, aug]), 'BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_AUG_'), 'version=1: AUG ciphersuite over pk ‖ bytes');
  t.notOk(verifies(augSig.signature!, aug, 'BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_'), 'and not a POP signature');

  // Signature version 0 has no BLS: octez and Signatory refuse it, and so do we, before any mark is taken.
  const v0 = blsAttestation({ level: 22, round: 0 });
  const refusedV0 = await httpSign(httpPort, TZ4.pkh, v0, '?version=0');
  t.equal(refusedV0.status, 400, 'tz4 with version=0: 400');
  t.equal(refusedV0.code, 'BAD_REQUEST');
  t.match(refusedV0.body, [{ kind: 'temporary', id: 'failure', msg: /^Failed to handle secret key in Signature version 0/ }], "octez's words");
  t.equal((await httpSign(httpPort, TZ4.pkh, v0, '?version=2')).status, 200, 'the refused request reserved no watermark: the same bytes sign with version=2');

  const otherPk = bls12_381.longSignatures.getPublicKey(bls12_381.utils.randomSecretKey()).toBytes(true);
  const OTHER_BLPK = b58Encode(otherPk, PrefixV2.BLS12_381PublicKey);
  const proof = await http(httpPort, 'GET', `/bls_prove_possession/${TZ4.pkh}?bls_pk=${OTHER_BLPK}`);
  t.equal(proof.status, 200, 'bls_pk override over HTTP');
  const proofSig = sigBytes((proof.body as { bls_prove_possession: string }).bls_prove_possession);
  t.ok(
    bls12_381.longSignatures.verify(proofSig, bls12_381.longSignatures.hash(otherPk, 'BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_'), pk),
    'the proof is by our key over the given key',
  );
  t.equal((await http(httpPort, 'GET', `/bls_prove_possession/${TZ4.pkh}?bls_pk=BLpkjunk`)).status, 400, 'a malformed bls_pk: 400');
});
