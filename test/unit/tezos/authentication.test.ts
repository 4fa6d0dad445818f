// octez request authentication: Taquito's InMemorySigner (an independent signer) signs
// 0x04 0x01 ‖ pkh ‖ data with a client key; only signatures by an authorized key pass.
import t from 'tap';
import { InMemorySigner } from '@taquito/signer';
import { authenticationBytes, checkAuthentication } from '../../../daemons/tezos/policy/authentication.js';
import type { TezosCurve } from '../../../daemons/tezos/keys/curve-signature.js';
import { generateTezosKey } from '../../../daemons/tezos/keys/tezos-key.js';
import { hex, loadTezosVectors, type PayloadVectors } from './tezos-vectors.js';

const payloads = loadTezosVectors<PayloadVectors>('payloads.json');
const BAKER = 'tz1b9kV41KV9N3sp69ycLdSoZ2Ak8jXwtNPv';

async function client(curve: TezosCurve): Promise<{ publicKey: string; sign(bytes: Buffer): Promise<string> }> {
  const signer = await InMemorySigner.fromSecretKey(generateTezosKey(curve).secretKey);
  return { publicKey: await signer.publicKey(), sign: async (bytes) => (await signer.sign(bytes.toString('hex'))).prefixSig };
}

t.test('the authenticated bytes are 0x04 0x01, the 21-byte binary pkh, then the data', async (t) => {
  const bytes = authenticationBytes(BAKER, hex('13aabb'));
  t.equal(bytes.toString('hex').slice(0, 6), '040100', 'magic, sign tag, ed25519 pkh tag');
  t.equal(bytes.length, 2 + 21 + 3);
  t.equal(authenticationBytes('tz4JmbuiJGyC2thisABCS59PnGr749dsP4WY', hex('00'))[2], 3, 'BLS pkh tag');
  t.throws(() => authenticationBytes('tz9nothing', hex('00')), { code: 'BAD_REQUEST' });
});

t.test('each client curve authenticates; others and tampering do not', async (t) => {
  const payload = hex(payloads.accepted[0]!.hex);
  const clients = await Promise.all((['ed25519', 'secp256k1', 'p256', 'bls12-381'] as TezosCurve[]).map(client));
  const authorized = clients.map((c) => c.publicKey);
  for (const c of clients) {
    const signature = await c.sign(authenticationBytes(BAKER, payload));
    t.doesNotThrow(() => checkAuthentication(authorized, BAKER, payload, signature), `${c.publicKey.slice(0, 4)} authenticates`);
    t.doesNotThrow(() => checkAuthentication([c.publicKey], BAKER, payload, signature), 'with only its own key listed');
    t.throws(
      () =>
        checkAuthentication(
          authorized.filter((k) => k !== c.publicKey),
          BAKER,
          payload,
          signature,
        ),
      { code: 'UNAUTHORIZED' },
      'key not listed',
    );
    t.throws(
      () => checkAuthentication(authorized, 'tz1RvhdZ5pcjD19vCCK9PgZpnmErTba3dsBs', payload, signature),
      { code: 'UNAUTHORIZED' },
      'signed for another pkh',
    );
    const other = Buffer.from(payload);
    other[10] = (other[10] ?? 0) ^ 1;
    t.throws(() => checkAuthentication(authorized, BAKER, other, signature), { code: 'UNAUTHORIZED' }, 'signed other data');
    const bare = await c.sign(payload);
    t.throws(() => checkAuthentication(authorized, BAKER, payload, bare), { code: 'UNAUTHORIZED' }, 'signature over the bare payload');
  }
  t.throws(() => checkAuthentication(authorized, BAKER, payload, null), { code: 'UNAUTHORIZED', message: /missing/ });
  t.throws(() => checkAuthentication(authorized, BAKER, payload, ''), { code: 'UNAUTHORIZED', message: /missing/ });
  t.throws(() => checkAuthentication(authorized, BAKER, payload, 'edsignotasignature'), { code: 'UNAUTHORIZED', message: /invalid/ });
});
