// `signerd hsm import --for tezos-*` of octez secret keys (edsk 32/64-byte, spsk, p2sk, encrypted p2esk) into a
// SoftHSM2 token: the printed pkh is the known one, `signerd tezos` signs with them for @taquito/remote-signer,
// and a tz4 key, another curve, a loose passphrase file or a wrong passphrase exit 78 with one line, no secret.
import fs from 'node:fs';
import path from 'node:path';
import { RemoteSigner } from '@taquito/remote-signer';
import { InMemorySigner } from '@taquito/signer';
import { verifySignature } from '@taquito/utils';
import t from 'tap';
import { runSignerd } from '../../helpers/daemon.js';
import { createToken, needSoftHsm, type TestToken } from '../../helpers/softhsm.js';
import { loadVectors } from '../../helpers/vectors.js';
import { startTezos, tempDir, TZ4, writeKeys } from './fixtures.js';
import { ballot, consensus } from './payloads.js';

interface SignerVector {
  name: string;
  secretKey: string;
  publicKey: string;
  pkh: string;
  passphrase?: string;
}
const vectors = loadVectors<{ keys: SignerVector[] }>('tezos/taquito-signer.json').keys;
const vector = (name: string): SignerVector => {
  const found = vectors.find((v) => v.name === name);
  if (!found) throw new Error(`no vector ${name}`);
  return found;
};

const IMPORTS = [
  { label: 'tz1-seed', for: 'tezos-tz1', vector: vector('tz1 32-byte seed'), serve: true },
  { label: 'tz1-64', for: 'tezos-tz1', vector: vector('tz1 64-byte'), serve: true },
  // The 64-byte form of the first key: the same pkh (not served twice).
  { label: 'tz1-64-same', for: 'tezos-tz1', vector: vector('tz1 64-byte form of the same key'), serve: false },
  // As copied from octez's secret_keys file.
  { label: 'tz2', for: 'tezos-tz2', vector: vector('tz2'), tag: 'unencrypted:', serve: true },
  { label: 'tz3', for: 'tezos-tz3', vector: vector('tz3 (RFC 6979, low-S)'), serve: true },
  { label: 'tz3-enc', for: 'tezos-tz3', vector: vector('tz3 encrypted (password test1234)'), serve: true },
];

const hexWithoutMagic = (payload: Buffer): string => payload.subarray(1).toString('hex');
const magic = (payload: Buffer): Uint8Array => new Uint8Array([payload[0]!]);

function secretFile(dir: string, name: string, content: string, mode = 0o600): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, content + '\n', { mode });
  fs.chmodSync(file, mode);
  return file;
}

async function hsmImport(
  token: TestToken,
  label: string,
  daemon: string,
  from: string,
  passphraseFile?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const args = ['hsm', 'import', '--key', token.uri(label), '--for', daemon, '--from', from, ...(passphraseFile ? ['--passphrase-file', passphraseFile] : [])];
  return runSignerd(args, '', token.env);
}

t.test('octez secret keys imported into a token, then signing through signerd tezos', needSoftHsm(), async (t) => {
  const token = createToken('tezos-import');
  t.teardown(() => token.cleanup());
  const dir = tempDir(t);
  const passphraseFile = secretFile(dir, 'passphrase', 'test1234');

  const keys: Record<string, unknown> = {};
  for (const item of IMPORTS) {
    const from = secretFile(dir, `${item.label}.sk`, (item.tag ?? '') + item.vector.secretKey);
    const made = await hsmImport(token, item.label, item.for, from, item.vector.passphrase ? passphraseFile : undefined);
    t.equal(made.code, 0, `${item.label}: imported (${made.stderr.trim()})`);
    t.match(made.stdout, new RegExp(`^pkh {9}${item.vector.pkh}$`, 'm'), `${item.label}: prints the known pkh ${item.vector.pkh}`);
    t.match(made.stdout, new RegExp(`^tezos pk {4}${item.vector.publicKey}$`, 'm'), `${item.label}: and the known public key`);
    t.notMatch(made.stdout + made.stderr, item.vector.secretKey, `${item.label}: the secret is not echoed`);
    const entry = /^keys\.json {3}(.*)$/m.exec(made.stdout)?.[1];
    if (item.serve && entry) Object.assign(keys, JSON.parse(entry) as Record<string, unknown>);
  }
  t.equal(Object.keys(keys).length, 5, 'five keys.json entries, as printed by hsm import');
  // `hsm generate --for tezos-*` prints the pkh too, the one `signerd tezos hsm-key` reads from the token.
  const generated = await runSignerd(['hsm', 'generate', '--key', token.uri('gen-tz2'), '--for', 'tezos-tz2'], '', token.env);
  const shown = await runSignerd(['tezos', 'hsm-key', '--key', token.uri('gen-tz2'), '--json'], '', token.env);
  t.match(generated.stdout, new RegExp(`^pkh {9}${(JSON.parse(shown.stdout) as { pkh: string }).pkh}$`, 'm'), 'hsm generate prints the pkh hsm-key shows');

  // The daemon runs on the printed keys.json entries (pkcs11_uri with the object's id).
  const keysFile = writeKeys(dir, { keys, policy: { baking: 1, voting: ['aye'] } });
  const { daemon, httpPort } = await startTezos(t, keysFile, ['--state-dir', `${dir}/state`], token.env);
  t.equal(daemon.logs.filter((l) => l['msg'] === 'HSM key opened').length, 5, 'five HSM keys opened at start-up');
  for (const item of IMPORTS.filter((i) => i.serve)) {
    const { pkh, publicKey } = item.vector;
    const signer = new RemoteSigner(pkh, `http://127.0.0.1:${httpPort}`);
    t.equal(await signer.publicKey(), publicKey, `${item.label}: the token's public key is the vector's`);
    for (const payload of [consensus('attestation', { level: 3, round: 0 }), ballot(0)]) {
      // RemoteSigner checks the signature against the public key; verifySignature checks it again.
      const signed = await signer.sign(hexWithoutMagic(payload), magic(payload));
      t.ok(
        verifySignature(payload.toString('hex'), publicKey, signed.prefixSig),
        `${item.label} magic 0x${payload[0]!.toString(16)}: signed in the HSM, verifies`,
      );
      if (pkh.startsWith('tz1')) {
        const local = await InMemorySigner.fromSecretKey(item.vector.secretKey);
        t.equal(
          signed.prefixSig,
          (await local.sign(hexWithoutMagic(payload), magic(payload))).prefixSig,
          `${item.label}: identical to @taquito/signer (Ed25519 is deterministic)`,
        );
      }
    }
  }
  t.equal(await daemon.stop('SIGTERM'), 0, 'stops cleanly');
  t.notMatch(JSON.stringify(daemon.logs) + daemon.stderr(), 'test1234', 'the passphrase never reaches the logs');
});

t.test('refusals: exit 78, one clear line, nothing secret, nothing added to the token', needSoftHsm(), async (t) => {
  const token = createToken('tezos-refuse');
  t.teardown(() => token.cleanup());
  const dir = tempDir(t);
  const tz3 = vector('tz3 (RFC 6979, low-S)');
  const encrypted = vector('tz3 encrypted (password test1234)');
  const goodPassphrase = secretFile(dir, 'passphrase', 'test1234');

  const cases = [
    { name: 'a tz4 BLsk key', for: 'tezos-tz3', secret: TZ4.sk, expect: /^signerd hsm import: CONFIG_INVALID: BLS keys cannot be held in a PKCS#11 HSM/ },
    {
      name: 'a p2sk key for --for tezos-tz1',
      for: 'tezos-tz1',
      secret: tz3.secretKey,
      expect: /^signerd hsm import: CONFIG_INVALID: --for tezos-tz1 takes a tz1 key \(edsk\/edesk\), but .* holds a tz3 key \(p2sk\): use --for tezos-tz3/,
    },
    {
      name: 'an encrypted p2esk for --for tezos-tz2 (curve told before decrypting)',
      for: 'tezos-tz2',
      secret: encrypted.secretKey,
      expect: /CONFIG_INVALID: --for tezos-tz2 takes a tz2 key \(spsk\/spesk\), but .* holds a tz3 key \(p2esk\): use --for tezos-tz3/,
    },
    {
      name: 'a passphrase file readable by others',
      for: 'tezos-tz3',
      secret: encrypted.secretKey,
      passphrase: secretFile(dir, 'loose-passphrase', 'test1234', 0o644),
      expect: /^signerd hsm import: KEY_FILE_INSECURE: passphrase file .*loose-passphrase has mode 0644/,
    },
    {
      name: 'a wrong passphrase',
      for: 'tezos-tz3',
      secret: encrypted.secretKey,
      passphrase: secretFile(dir, 'wrong-passphrase', 'not-it-5678'),
      expect: /^signerd hsm import: KEY_LOAD_FAILED: the p2esk key does not decrypt with this passphrase/,
    },
    {
      name: 'an encrypted key without --passphrase-file',
      for: 'tezos-tz3',
      secret: encrypted.secretKey,
      expect: /^signerd hsm import: KEY_LOAD_FAILED: an encrypted p2esk key needs --passphrase-file/,
    },
    {
      name: 'a --passphrase-file with a plain key',
      for: 'tezos-tz3',
      secret: tz3.secretKey,
      passphrase: goodPassphrase,
      expect: /^signerd hsm import: CONFIG_INVALID: .* holds an unencrypted p2sk key; drop --passphrase-file/,
    },
    {
      name: 'a key file readable by others',
      for: 'tezos-tz3',
      secret: tz3.secretKey,
      mode: 0o644,
      expect: /^signerd hsm import: KEY_FILE_INSECURE: private key /,
    },
    {
      name: 'a damaged key (checksum)',
      for: 'tezos-tz3',
      secret: tz3.secretKey.slice(0, -1) + (tz3.secretKey.endsWith('1') ? '2' : '1'),
      expect: /^signerd hsm import: KEY_LOAD_FAILED: private key .* neither a PEM private key nor a Tezos secret key/,
    },
  ];
  for (const [i, c] of cases.entries()) {
    const from = secretFile(dir, `refused-${i}.sk`, c.secret, c.mode ?? 0o600);
    const res = await hsmImport(token, `refused-${i}`, c.for, from, c.passphrase);
    t.equal(res.code, 78, `${c.name}: exit 78`);
    t.match(res.stderr, c.expect, `${c.name}: ${res.stderr.trim()}`);
    t.equal(res.stderr.trimEnd().split('\n').length, 1, `${c.name}: one line`);
    t.notMatch(res.stdout + res.stderr, c.secret, `${c.name}: the secret is not echoed`);
    t.notMatch(res.stdout + res.stderr, /test1234|not-it-5678/, `${c.name}: the passphrase is not echoed`);
  }
  const listed = await runSignerd(['hsm', 'list', '--token', token.tokenUri()], '', token.env);
  t.match(listed.stdout, /no key objects on this token/, 'nothing was added to the token');
});
