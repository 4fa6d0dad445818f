// The line protocol with the real `nc` (netcat-openbsd), as an operator or shell script uses it:
// one request line, one reply line; bad input gets one ERR line and the daemon keeps serving.
import t from 'tap';
import { needTools } from '../../helpers/tools.js';
import { exchange } from '../../helpers/line-client.js';
import { nc, seedKeys, startTezos, tempDir, TZ1, TZ4, writeKeys } from './fixtures.js';
import { blsAttestation, consensus, michelson } from './payloads.js';
import { verifySignature } from '@taquito/utils';
import { verifyTezosSignature } from '../../../daemons/tezos/tezos-key.js';

/** Taquito's proof-of-possession vector for TZ4 (tezos.md 5.1). */
const TZ4_POP = 'BLsigAp94rBWCJU7yM7X5F4zSw15AKkW1JZ5dwkqa2Xjdo1y4jhcQKVf6Sh7GFV261MUEx3WbfStUkP83tmKRpAucD4NEo1bLCB3s1TM4ByDUYZ1vUV5qsAWFLagvbnHfn61DnouoxmTij';


t.test('line protocol through nc', needTools('nc'), async (t) => {
  const dir = tempDir(t);
  const keysFile = writeKeys(dir, seedKeys([TZ1, TZ4]));
  const { linePort, httpPort, daemon } = await startTezos(t, keysFile, ['--state-dir', `${dir}/state`, '--allow-list-known-keys', '--allow-to-prove-possession', '--payload-bytes-max', '1024']);

  const att = consensus('attestation', { level: 7, round: 0 });
  const [sig] = await nc(linePort, `sign ${TZ1.pkh} ${att.toString('hex')}\n`);
  t.match(sig, /^edsig/, 'sign <pkh> <hex> → the b58 signature');
  t.ok(verifyTezosSignature(TZ1.pk, att, sig!), 'the signature verifies');

  const replies = await nc(linePort, [
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
  ].join('\n') + '\n');
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

  const long = await exchange(linePort, ['x'.repeat(200_000)]);
  t.match(long[0], /^ERR LINE_TOO_LONG /, 'overlong line: ERR LINE_TOO_LONG');
  const [still] = await nc(linePort, 'ping\n');
  t.equal(still, 'pong', 'the daemon keeps serving');
  t.ok(daemon.logs.some((l) => l['msg'] === 'request' && typeof l['refusedPayloads'] === 'number'), 'refused unknown payloads are counted in the log');
});
