// @taquito/remote-signer 21 (a real octez-API client, which verifies every returned signature
// against the public key it fetches) against the running daemon, for tz1, tz2 and tz3. The daemon is
// served in the test process on real sockets: what is tested is the wire, not the process.
import { RemoteSigner } from '@taquito/remote-signer';
import { InMemorySigner } from '@taquito/signer';
import t from 'tap';
import { exchange } from '../../helpers/line-client.js';
import { http, octezErrorMessages, seedKeys, serveTezos, tempDir, TZ1, TZ2, TZ3, writeKeys } from './fixtures.js';
import { ballot, block, consensus } from './payloads.js';

const hexWithoutMagic = (payload: Buffer): string => payload.subarray(1).toString('hex');
const magic = (payload: Buffer): Uint8Array => new Uint8Array([payload[0]!]);

t.test('taquito RemoteSigner against the daemon', async (t) => {
  const dir = tempDir(t);
  const keysFile = writeKeys(dir, seedKeys([TZ1, TZ2, TZ3], { baking: 1, voting: ['aye', 'pass'] }));
  const { httpPort, linePort } = await serveTezos(t, keysFile, ['--state-dir', `${dir}/state`]);
  const root = `http://127.0.0.1:${httpPort}`;

  for (const key of [TZ1, TZ2, TZ3]) {
    const signer = new RemoteSigner(key.pkh, root);
    t.equal(await signer.publicKey(), key.pk, `${key.pkh.slice(0, 3)}: GET /keys/<pkh> gives the public key`);
    t.equal(await signer.publicKeyHash(), key.pkh);
    const local = await InMemorySigner.fromSecretKey(key.sk);
    const level = 1;
    for (const payload of [
      block({ level, round: 0 }),
      consensus('preattestation', { level, round: 0 }),
      consensus('attestation', { level: level + 1, round: 1 }),
      ballot(0),
    ]) {
      const signed = await signer.sign(hexWithoutMagic(payload), magic(payload));
      t.match(signed.prefixSig, /^(edsig|spsig1|p2sig)/, `${key.pkh.slice(0, 3)} magic 0x${payload[0]!.toString(16)}: signed and verified by RemoteSigner`);
      if (key !== TZ3) {
        // Ed25519 and RFC 6979 secp256k1 are deterministic: Taquito's own signer gives the same bytes.
        const reference = await local.sign(hexWithoutMagic(payload), magic(payload));
        t.equal(signed.prefixSig, reference.prefixSig, `${key.pkh.slice(0, 3)}: identical to @taquito/signer's signature`);
      }
    }
    // "aye" in the seed's policy is octez's "yay"; "nay" is not listed.
    await t.rejects(signer.sign(hexWithoutMagic(ballot(1)), new Uint8Array([3])), { name: 'OperationNotAuthorized' }, 'a nay ballot is refused with 403');
  }

  const unknown = new RemoteSigner('tz1RvhdZ5pcjD19vCCK9PgZpnmErTba3dsBs', root);
  await t.rejects(unknown.publicKey(), { name: 'PublicKeyNotFoundError' }, 'unknown key: 404');
  const garbage = await http(httpPort, 'GET', '/keys/garbage');
  t.equal(garbage.status, 400, 'a key hash that does not parse: 400, as octez');
  t.match(garbage.body, [{ kind: 'temporary', msg: /not a tz1\/tz2\/tz3\/tz4 key hash/ }]);
  t.equal(garbage.code, 'BAD_REQUEST', 'the signerd code rides in a header');
  t.equal((await http(httpPort, 'POST', `/keys/${TZ1.pkh.slice(0, -1)}x`, '00')).status, 400, 'a bad checksum: 400');
  const tz1 = new RemoteSigner(TZ1.pkh, root);
  await t.rejects(tz1.sign('00', new Uint8Array([0x13])), { name: 'BadSigningData' }, 'malformed attestation: 400');

  const prefixed = new RemoteSigner(TZ1.pkh, `${root}/some/base/path/`);
  const att = consensus('attestation', { level: 50, round: 0 });
  t.ok((await prefixed.sign(hexWithoutMagic(att), magic(att))).prefixSig, 'a path prefix in front of /keys works');

  t.same((await http(httpPort, 'GET', '/authorized_keys')).body, {}, 'GET /authorized_keys: {} when authentication is off');
  const known = await http(httpPort, 'GET', '/known_keys');
  t.equal(known.status, 403, '/known_keys is off unless --allow-list-known-keys');
  t.same(await exchange(linePort, ['keys']), [`${TZ1.pkh} ${TZ2.pkh} ${TZ3.pkh}`], 'the local line request `keys` always answers');
  t.match(known.body, [{ kind: 'temporary', id: 'failure', msg: /allow-list-known-keys/ }], 'octez error array');
  t.match(octezErrorMessages(known.body), [/^List known keys request not allowed\./], "an octez client decodes it (octez's own words)");
  t.equal(known.code, 'NOT_ALLOWED');
  t.equal((await http(httpPort, 'GET', '/nothing/here')).status, 404);
  t.match(await http(httpPort, 'POST', '/authorized_keys', 'x'), { status: 405, allow: 'GET, HEAD' }, 'a 405 names the methods the path takes');
  t.match(await http(httpPort, 'DELETE', `/keys/${TZ1.pkh}`), { status: 405, allow: 'GET, HEAD, POST' });
  t.match(await http(httpPort, 'HEAD', `/keys/${TZ1.pkh}`), { status: 200, body: '' }, 'HEAD: the GET without its body (health checks, proxies)');
  t.match(await http(httpPort, 'HEAD', '/authorized_keys'), { status: 200, body: '' });
  t.equal((await http(httpPort, 'POST', `/keys/${TZ1.pkh}`, 'RAW:not json')).status, 400, 'body that is not JSON: 400');
  t.equal((await http(httpPort, 'POST', `/keys/${TZ1.pkh}`, 'zz')).status, 400, 'not hex: 400');
  t.equal((await http(httpPort, 'POST', `/keys/${TZ1.pkh}?version=7`, att.toString('hex'))).status, 400, 'bad version: 400');
  t.equal((await http(httpPort, 'POST', `/keys/${TZ1.pkh}`, att.toString('hex'))).status, 200, 'identical bytes again: the stored signature');
  const other = consensus('attestation', { level: 50, round: 0, variant: 'x' });
  const conflict = await http(httpPort, 'POST', `/keys/${TZ1.pkh}`, other.toString('hex'));
  t.equal(conflict.status, 409, 'other bytes for the same slot: 409');
  t.match(conflict.body, [{ msg: /50\/0.*50\/0/ }], 'the message names both marks');
  t.match(
    octezErrorMessages(conflict.body),
    [/^attestation level 50 and round 0 already signed with different data \(requested 50\/0, high watermark 50\/0, tz1\w+ on NetXdQprcVkpaWU\)$/],
    "octez's words, then the marks and the slot; decodable by an octez client",
  );
  t.equal(conflict.code, 'WATERMARK_REJECTED');
  // The other octez refusals, word for word (octez-signer's check_mark), for each kind.
  const refusal = async (first: Buffer, second: Buffer): Promise<string[] | null> => {
    t.equal((await http(httpPort, 'POST', `/keys/${TZ1.pkh}`, first.toString('hex'))).status, 200);
    const refused = await http(httpPort, 'POST', `/keys/${TZ1.pkh}`, second.toString('hex'));
    t.equal(refused.status, 409);
    return octezErrorMessages(refused.body);
  };
  t.match(await refusal(consensus('preattestation', { level: 60, round: 0 }), consensus('preattestation', { level: 59, round: 4 })), [
    /^preattestation level 59 below high watermark 60 \(/,
  ]);
  t.match(await refusal(consensus('attestation', { level: 70, round: 3 }), consensus('attestation', { level: 70, round: 1 })), [
    /^attestation level 70 and round 1 not above high watermark \(70,3\) \(/,
  ]);
  t.match(await refusal(block({ level: 80, round: 0 }), block({ level: 79, round: 0 })), [/^block level 79 below high watermark 80 \(/]);
  const big = Buffer.alloc(40 * 1024, 3);
  t.equal((await http(httpPort, 'POST', `/keys/${TZ1.pkh}`, big.toString('hex'))).status, 413, 'payload over the maximum: 413');
});
