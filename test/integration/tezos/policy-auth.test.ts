// Policy refusals and octez-style authentication at the wire, on both front ends: per-key
// request kinds, generic operation kinds (forged by @taquito/local-forging), ballots, chains,
// Michelson data, unknown magic bytes and tags; authentication signed by @taquito/signer. The daemon
// is served in the test process on real sockets.
import { LocalForger } from '@taquito/local-forging';
import { InMemorySigner } from '@taquito/signer';
import { b58DecodePublicKeyHash, b58Encode, PrefixV2 } from '@taquito/utils';
import t from 'tap';
import { request } from '../../helpers/line-client.js';
import { CLIENT, http, httpSign, serveTezos, tempDir, TZ1, TZ2, TZ3, writeKeys } from './fixtures.js';
import { ballot, blsAttestation, consensus, GHOSTNET, michelson, MAINNET_ID } from './payloads.js';

const branch = b58Encode(new Uint8Array(32).fill(7), PrefixV2.BlockHash);

async function forged(content: Record<string, unknown>): Promise<Buffer> {
  const hex = await new LocalForger().forge({
    branch,
    contents: [{ source: TZ2.pkh, fee: '1000', counter: '1', gas_limit: '1000', storage_limit: '0', ...content }],
  } as never);
  return Buffer.concat([Buffer.from([0x03]), Buffer.from(hex, 'hex')]);
}

/** The octez authentication signature: the client key signs 0x04 0x01 ‖ pkh (21 bytes) ‖ data. */
async function authenticate(pkh: string, payload: Buffer): Promise<string> {
  const signer = await InMemorySigner.fromSecretKey(CLIENT.sk);
  const message = Buffer.concat([Buffer.from([0x04, 0x01]), Buffer.from(b58DecodePublicKeyHash(pkh) as string, 'hex'), payload]);
  return (await signer.sign(message.toString('hex'))).prefixSig;
}

t.test('policy and authentication at the wire', async (t) => {
  const dir = tempDir(t);
  const clientPk = await (await InMemorySigner.fromSecretKey(CLIENT.sk)).publicKey();
  const keysFile = writeKeys(dir, {
    authorized_keys: [clientPk],
    keys: {
      [TZ1.pkh]: { secret_key: TZ1.sk, authorized_keys: [], policy: { allow: ['block', 'attestation'], chains: [MAINNET_ID] } },
      [TZ2.pkh]: { secret_key: TZ2.sk, authorized_keys: [], policy: { generic: ['transaction', 'ballot:yay'], michelson: true } },
      [TZ3.pkh]: { secret_key: TZ3.sk, policy: { baking: 1 } },
    },
  });
  const { httpPort, linePort } = await serveTezos(t, keysFile, ['--state-dir', `${dir}/state`]);
  const status = async (pkh: string, payload: Buffer, query = ''): Promise<number> => (await httpSign(httpPort, pkh, payload, query)).status;
  const line = (pkh: string, payload: Buffer, extra = ''): Promise<string> => request(linePort, `sign ${pkh} ${payload.toString('hex')}${extra}`);

  t.equal(await status(TZ1.pkh, consensus('attestation', { level: 1, round: 0 })), 200, 'tz1: attestation allowed');
  t.equal(await status(TZ1.pkh, consensus('preattestation', { level: 1, round: 0 })), 403, 'tz1: preattestation not in its allow list');
  t.match(await line(TZ1.pkh, consensus('preattestation', { level: 2, round: 0 })), /^ERR NOT_ALLOWED .*preattestation/, 'line: the same refusal');
  t.equal(await status(TZ1.pkh, consensus('attestation', { level: 2, round: 0, chain: GHOSTNET })), 403, 'tz1: chain not allowed');
  t.equal(await status(TZ1.pkh, ballot(0)), 403, 'tz1: generic not allowed');
  t.equal(await status(TZ1.pkh, michelson()), 403, 'tz1: Michelson data denied by default');
  t.equal(await status(TZ1.pkh, blsAttestation({ level: 3, round: 0 })), 403, 'tz1: BLS-mode attestation tag refused for a non-BLS key');
  const aggregate = Buffer.from(consensus('attestation', { level: 4, round: 0 }));
  aggregate[37] = 31;
  t.equal(await status(TZ1.pkh, aggregate), 403, 'aggregate consensus tag refused');
  t.equal(await status(TZ1.pkh, Buffer.concat([Buffer.from([0x04, 0x01]), Buffer.alloc(40)])), 403, 'never signs the 0x04 authentication envelope');

  t.equal(await status(TZ2.pkh, ballot(0)), 200, 'tz2: yay ballot allowed');
  t.equal(await status(TZ2.pkh, ballot(1)), 403, 'tz2: nay ballot refused');
  t.equal(await status(TZ2.pkh, await forged({ kind: 'transaction', amount: '5', destination: TZ1.pkh })), 200, 'tz2: transaction allowed');
  t.equal(await status(TZ2.pkh, await forged({ kind: 'delegation', delegate: TZ1.pkh })), 403, 'tz2: delegation refused');
  t.equal(await status(TZ2.pkh, michelson()), 200, 'tz2: Michelson data explicitly allowed');
  t.equal(await status(TZ2.pkh, consensus('attestation', { level: 1, round: 0 })), 403, 'tz2: consensus not allowed');

  t.same((await http(httpPort, 'GET', '/authorized_keys')).body, { authorized_keys: [CLIENT.pkh] }, 'GET /authorized_keys lists key hashes');
  const att = consensus('attestation', { level: 10, round: 0 });
  const missing = await httpSign(httpPort, TZ3.pkh, att);
  t.equal(missing.status, 401, 'tz3 needs authentication: missing → 401');
  t.match(missing.body, [{ msg: /missing authentication/ }]);
  const wrong = await authenticate(TZ3.pkh, consensus('attestation', { level: 99, round: 0 }));
  t.equal(await status(TZ3.pkh, att, `?authentication=${wrong}`), 401, 'signature over other data → 401');
  t.equal(await status(TZ3.pkh, att, `?authentication=${await authenticate(TZ1.pkh, att)}`), 401, 'signature for another key → 401');
  t.equal(await status(TZ3.pkh, att, `?version=2&authentication=${await authenticate(TZ3.pkh, att)}`), 200, 'authenticated request signed');
  const next = consensus('attestation', { level: 11, round: 0 });
  t.match(await line(TZ3.pkh, next), /^ERR UNAUTHORIZED /, 'line: unauthenticated → ERR UNAUTHORIZED');
  t.match(await line(TZ3.pkh, next, ` authentication=${await authenticate(TZ3.pkh, next)}`), /^p2sig/, 'line: authentication=<sig> works too');
  t.match(await line(TZ3.pkh, next, ' authentication=***'), /^ERR BAD_REQUEST /, 'line: junk option refused');
});
