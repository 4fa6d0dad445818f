// tz1/tz2/tz3 keys held in a SoftHSM2 token: @taquito/remote-signer (which verifies every signature)
// over HTTP with signerd's pkcs11_uri entries, and the line protocol through nc with the seed's pkcs11_hsm shape.
import path from 'node:path';
import { RemoteSigner } from '@taquito/remote-signer';
import { InMemorySigner } from '@taquito/signer';
import { verifySignature } from '@taquito/utils';
import t from 'tap';
import { decodeSignature } from '../../../daemons/tezos/keys/key-encoding.js';
import { runSignerd } from '../../helpers/daemon.js';
import { SOFTHSM_MODULE, needSoftHsm } from '../../helpers/softhsm.js';
import { needTools } from '../../helpers/tools.js';
import { http, httpSign, nc, startTezos, tempDir, TZ1, TZ2, TZ3, writeKeys } from './fixtures.js';
import { hsmKeysConfig, tezosToken } from './hsm-fixtures.js';
import { ballot, block, consensus } from './payloads.js';

const hexWithoutMagic = (payload: Buffer): string => payload.subarray(1).toString('hex');
const magic = (payload: Buffer): Uint8Array => new Uint8Array([payload[0]!]);
const ORDER = {
  tz2: 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n,
  tz3: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
};

/** True when the ECDSA signature's s is in the lower half of the group order (what Tezos demands). */
function lowS(pkh: string, signature: string): boolean {
  const curve = pkh.startsWith('tz2') ? 'secp256k1' : 'p256';
  const raw = decodeSignature(curve, signature);
  if (raw === null) return false;
  return BigInt('0x' + raw.subarray(32).toString('hex')) <= ORDER[curve === 'secp256k1' ? 'tz2' : 'tz3'] >> 1n;
}

t.test('HSM keys through the octez HTTP API (taquito RemoteSigner)', needSoftHsm(), async (t) => {
  const token = await tezosToken(t, 'tezos-http');
  const dir = tempDir(t);
  // Keys generated inside the token too: `signerd tezos hsm-key` tells their pkh for keys.json.
  const generated: Array<{ pkh: string; pk: string }> = [];
  const config = hsmKeysConfig(token) as { keys: Record<string, unknown> };
  for (const curve of ['tz1', 'tz2', 'tz3']) {
    const made = await runSignerd(['hsm', 'generate', '--key', token.uri(`gen-${curve}`), '--for', `tezos-${curve}`], '', token.env);
    t.equal(made.code, 0, made.stderr);
    const shown = await runSignerd(['tezos', 'hsm-key', '--key', token.uri(`gen-${curve}`), '--json'], '', token.env);
    const { pkh, public_key: pk } = JSON.parse(shown.stdout) as { pkh: string; public_key: string };
    t.ok(pkh.startsWith(curve), `hsm-key: the generated ${curve} key's pkh`);
    generated.push({ pkh, pk });
    config.keys[pkh] = { pkcs11_uri: token.uri(`gen-${curve}`), public_key: pk };
  }
  const keysFile = writeKeys(dir, config);
  const { daemon, httpPort } = await startTezos(t, keysFile, ['--state-dir', `${dir}/state`], token.env);
  t.equal(daemon.logs.filter((l) => l['msg'] === 'HSM key opened').length, 6, 'six HSM keys opened at start-up');
  const root = `http://127.0.0.1:${httpPort}`;

  for (const key of [TZ1, TZ2, TZ3]) {
    const tag = key.pkh.slice(0, 3);
    const signer = new RemoteSigner(key.pkh, root);
    t.equal(await signer.publicKey(), key.pk, `${tag}: the public key read from the token is the imported key's`);
    const local = await InMemorySigner.fromSecretKey(key.sk);
    const level = 1;
    for (const payload of [
      block({ level, round: 0 }),
      consensus('preattestation', { level, round: 0 }),
      consensus('attestation', { level: level + 1, round: 1 }),
      ballot(0),
    ]) {
      const signed = await signer.sign(hexWithoutMagic(payload), magic(payload));
      t.match(signed.prefixSig, /^(edsig|spsig1|p2sig)/, `${tag} magic 0x${payload[0]!.toString(16)}: signed in the HSM, verified by RemoteSigner`);
      if (key === TZ1) {
        // Ed25519 is deterministic: the token's signature is the very one @taquito/signer makes.
        t.equal(signed.prefixSig, (await local.sign(hexWithoutMagic(payload), magic(payload))).prefixSig, 'tz1: identical to @taquito/signer');
      } else {
        t.ok(lowS(key.pkh, signed.prefixSig), `${tag}: low-S`);
      }
    }
    await t.rejects(
      signer.sign(hexWithoutMagic(ballot(1)), new Uint8Array([3])),
      { name: 'OperationNotAuthorized' },
      `${tag}: policy still applies (nay refused)`,
    );
  }

  for (const key of generated) {
    const att = consensus('attestation', { level: 9, round: 0 });
    const signer = new RemoteSigner(key.pkh, root);
    t.equal(await signer.publicKey(), key.pk, `generated ${key.pkh.slice(0, 3)}: public key`);
    t.ok((await signer.sign(hexWithoutMagic(att), magic(att))).prefixSig, `generated ${key.pkh.slice(0, 3)}: signed and verified by RemoteSigner`);
  }

  // Several requests at once share the token's session pool; every signature still verifies.
  const ballots = Array.from({ length: 8 }, () => ballot(2));
  const results = await Promise.all(ballots.map((b) => httpSign(httpPort, TZ2.pkh, b)));
  results.forEach((r, i) =>
    t.ok(r.signature !== null && verifySignature(ballots[i]!.toString('hex'), TZ2.pk, r.signature), `concurrent tz2 ballot ${i} verifies`),
  );

  const att = consensus('attestation', { level: 50, round: 0 });
  const first = await httpSign(httpPort, TZ3.pkh, att);
  t.equal(first.status, 200, 'tz3 attestation');
  t.equal((await httpSign(httpPort, TZ3.pkh, att)).signature, first.signature, 'identical bytes: the stored signature, not a second HSM signature');
  t.equal((await httpSign(httpPort, TZ3.pkh, consensus('attestation', { level: 50, round: 0, variant: 'x' }))).status, 409, 'other bytes for the slot: 409');
  t.equal((await http(httpPort, 'GET', `/keys/${TZ2.pkh}`)).status, 200);

  t.equal(await daemon.stop('SIGTERM'), 0, 'SIGTERM drains, closes the HSM sessions and exits 0');
  t.notMatch(JSON.stringify(daemon.logs) + daemon.stderr(), token.pin, 'the PIN never reaches the logs');
});

t.test("the seed's pkcs11_hsm entries, over the line protocol with nc", { ...needSoftHsm(), ...needTools('nc') }, async (t) => {
  const token = await tezosToken(t, 'tezos-seed');
  const listed = await runSignerd(['hsm', 'list', '--token', token.tokenUri().replace(`token=${token.label}`, '')], '', token.env);
  const slot = /slot-id=([0-9]+)\t.*token=tezos-seed$/m.exec(listed.stdout)?.[1];
  t.ok(slot, `hsm list shows the token's slot-id (${listed.code})`);
  const dir = tempDir(t);
  const keysFile = writeKeys(dir, {
    hsm_lib: SOFTHSM_MODULE,
    hsm_slot: Number(slot),
    hsm_username: 'ignored',
    // signerd's addition: the seed read HSM_PASSWORD from the environment; signerd reads a 0600 file.
    hsm_pin_file: path.relative(dir, token.pinFile),
    keys: {
      [`${TZ1.pk}:pkcs11_hsm:baker-tz1`]: {},
      [TZ2.pkh]: { public_key: TZ2.pk, signer: 'pkcs11_hsm', signer_args: ['baker-tz2'] },
      [`${TZ3.pk}:pkcs11_hsm`]: { signer_args: ['baker-tz3'] },
    },
    policy: { baking: 1 },
  });
  const { linePort } = await startTezos(t, keysFile, ['--state-dir', `${dir}/state`, '--allow-list-known-keys'], token.env);

  const [known] = await nc(linePort, 'keys\n');
  t.equal(known, `${TZ1.pkh} ${TZ2.pkh} ${TZ3.pkh}`, 'all three keys, in keys.json order');
  for (const key of [TZ1, TZ2, TZ3]) {
    const att = consensus('attestation', { level: 7, round: 0 });
    const pre = consensus('preattestation', { level: 7, round: 0 });
    const replies = await nc(
      linePort,
      [`pubkey ${key.pkh}`, `sign ${key.pkh} ${pre.toString('hex')}`, `sign ${key.pkh} ${att.toString('hex')}`, `sign ${key.pkh} ${att.toString('hex')}`].join(
        '\n',
      ) + '\n',
    );
    t.equal(replies[0], key.pk, `${key.pkh.slice(0, 3)}: pubkey from the token`);
    t.ok(verifySignature(pre.toString('hex'), key.pk, replies[1]!), `${key.pkh.slice(0, 3)}: preattestation verifies (@taquito/utils)`);
    t.ok(verifySignature(att.toString('hex'), key.pk, replies[2]!), `${key.pkh.slice(0, 3)}: attestation verifies`);
    t.equal(replies[3], replies[2], 'identical request: the same signature');
  }
  const [refused] = await nc(linePort, `sign ${TZ2.pkh} ${consensus('attestation', { level: 6, round: 0 }).toString('hex')}\n`);
  t.match(refused, /^ERR WATERMARK_REJECTED /, 'below the watermark: refused as for file keys');
});
