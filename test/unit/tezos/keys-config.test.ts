// keys.json loading: the seed's shapes (keys as dict or list, global policy, bind_addr/bind_port) and
// signerd's (per-key policy, secret_key_file, authorized_keys); secret-file modes; secrets never echoed.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { loadTezosConfig } from '../../../daemons/tezos/config/keys-config.js';
import { loadTezosVectors, type SignerVectors } from './tezos-vectors.js';
import { failureOf as failure } from '../../helpers/error-codes.js';

const vectors = loadTezosVectors<SignerVectors>('taquito-signer.json');
const tz1 = vectors.keys[0]!;
const tz2 = vectors.keys.find((k) => k.pkh.startsWith('tz2'))!;
const tz3 = vectors.keys.find((k) => k.pkh === 'tz3Lfm6CyfSTZ7EgMckptZZGiPxzs9GK59At')!;
const tz3Encrypted = vectors.keys.find((k) => k.passphrase)!;
const tz4 = vectors.bls;

function tempDir(t: Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signerd-tezos-config-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function write(dir: string, name: string, content: unknown, mode = 0o600): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content), { mode });
  fs.chmodSync(file, mode);
  return file;
}

t.test("the seed's dict form keyed by pkh, with the global policy", async (t) => {
  const dir = tempDir(t);
  const file = write(dir, 'keys.json', {
    chain_ratchet: 'mockery',
    keys: { [tz3.pkh]: { signer: 'local', public_key: tz3.publicKey, secret_key: tz3.secretKey } },
    policy: { baking: 1, voting: ['aye', 'pass'], allow_all: 0 },
    bind_addr: '127.0.0.1',
    bind_port: '5000',
  });
  const config = loadTezosConfig(file, {});
  t.same([...config.keys.keys()], [tz3.pkh]);
  const entry = config.keys.get(tz3.pkh)!;
  t.equal(entry.key.publicKey, tz3.publicKey);
  t.same([...entry.policy.kinds].sort(), ['attestation', 'block', 'generic', 'preattestation']);
  t.same([...entry.policy.operations].sort(), ['ballot:pass', 'ballot:yay']);
  t.equal(config.bindAddr, '127.0.0.1');
  t.equal(config.bindPort, 5000, 'the seed writes the port as a string');
  t.same(config.authorizedKeys, []);
});

t.test("the seed's dict keyed by secret key, and the list form", async (t) => {
  const dir = tempDir(t);
  const dict = loadTezosConfig(write(dir, 'dict.json', { keys: { [tz1.secretKey]: {}, [`${tz2.secretKey}:local`]: {} }, policy: { baking: 1 } }), {});
  t.same([...dict.keys.keys()].sort(), [tz1.pkh, tz2.pkh].sort());
  const list = loadTezosConfig(write(dir, 'list.json', { keys: [tz1.secretKey, `${tz4.secretKey}:local`], bind_port: 6732 }), {});
  t.same([...list.keys.keys()].sort(), [tz1.pkh, tz4.pkh].sort());
  t.equal(list.keys.get(tz4.pkh)!.policy.blsKey, true);
  t.equal(list.keys.get(tz1.pkh)!.policy.kinds.size, 0, 'no policy: deny everything');
  t.equal(list.bindPort, 6732);
});

t.test('signerd form: per-key policy, secret_key_file, authorized keys, encrypted key', async (t) => {
  const dir = tempDir(t);
  write(dir, 'tz2.key', `${tz2.secretKey}\n`);
  const pass = write(dir, 'pass', `${tz3Encrypted.passphrase}\n`);
  const file = write(dir, 'keys.json', {
    keys: {
      [tz1.pkh]: { secret_key: tz1.secretKey, policy: { allow: ['attestation'], chains: ['NetXdQprcVkpaWU'] }, authorized_keys: [tz2.publicKey] },
      [tz2.pkh]: { secret_key_file: 'tz2.key', policy: { generic: ['transaction', 'ballot:aye'] } },
      [tz3Encrypted.pkh]: { secret_key: tz3Encrypted.secretKey, public_key: tz3Encrypted.publicKey },
    },
    policy: { baking: 1 },
    authorized_keys: [tz1.publicKey, tz4.publicKey],
  });
  const config = loadTezosConfig(file, { passphraseFile: pass });
  t.same(config.authorizedKeys, [tz1.publicKey, tz4.publicKey]);
  t.same([...config.keys.get(tz1.pkh)!.policy.kinds], ['attestation']);
  t.same([...config.keys.get(tz1.pkh)!.policy.chainIds], ['NetXdQprcVkpaWU']);
  t.same(config.keys.get(tz1.pkh)!.authorized, [tz2.publicKey]);
  t.same([...config.keys.get(tz2.pkh)!.policy.operations].sort(), ['ballot:yay', 'transaction']);
  t.equal(config.keys.get(tz2.pkh)!.authorized, undefined, 'no per-key list: the global one applies');
  t.same([...config.keys.get(tz3Encrypted.pkh)!.policy.kinds].sort(), ['attestation', 'block', 'preattestation'], 'global policy');
  t.equal(failure(() => loadTezosConfig(file, {})).code, 'KEY_LOAD_FAILED', 'encrypted key without passphrase');
});

t.test("octez's unencrypted: / encrypted: tags: as an entry's name, a list item, a secret_key value", async (t) => {
  const dir = tempDir(t);
  const dict = loadTezosConfig(write(dir, 'dict.json', { keys: { [`unencrypted:${tz1.secretKey}`]: {}, [`unencrypted:${tz2.secretKey}:local`]: {} } }), {});
  t.same([...dict.keys.keys()].sort(), [tz1.pkh, tz2.pkh].sort());
  const list = loadTezosConfig(write(dir, 'list.json', { keys: [`unencrypted:${tz4.secretKey}`] }), {});
  t.same([...list.keys.keys()], [tz4.pkh]);
  const pass = write(dir, 'pass', `${tz3Encrypted.passphrase}\n`);
  const field = loadTezosConfig(write(dir, 'field.json', { keys: { [tz3Encrypted.pkh]: { secret_key: `encrypted:${tz3Encrypted.secretKey}` } } }), {
    passphraseFile: pass,
  });
  t.same([...field.keys.keys()], [tz3Encrypted.pkh]);
  const open = write(dir, 'open.json', { keys: { [`unencrypted:${tz1.secretKey}`]: {} } }, 0o644);
  t.equal(failure(() => loadTezosConfig(open, {})).code, 'KEY_FILE_INSECURE', 'a tagged secret makes the file one to keep private');
});

t.test('secret-bearing files must be private', async (t) => {
  const dir = tempDir(t);
  const open = write(dir, 'open.json', { keys: [tz1.secretKey] }, 0o644);
  t.equal(failure(() => loadTezosConfig(open, {})).code, 'KEY_FILE_INSECURE');
  write(dir, 'loose.key', tz1.secretKey, 0o640);
  const viaFile = write(dir, 'public.json', { keys: { [tz1.pkh]: { secret_key_file: 'loose.key' } } }, 0o644);
  t.equal(failure(() => loadTezosConfig(viaFile, {})).code, 'KEY_FILE_INSECURE', 'key file 0640');
  fs.chmodSync(path.join(dir, 'loose.key'), 0o600);
  t.equal(loadTezosConfig(viaFile, {}).keys.size, 1, 'a keys.json without secrets may be 0644');
  // Decided on the parsed content (secrets probe): a JSON escape in the text hides nothing.
  const escapes: Array<[string, string]> = [
    ['an escaped secret value', `{"keys": {"${tz1.pkh}": {"secret_key_file": "x", "public_key": "\\u0065${tz1.secretKey.slice(1)}"}}}`],
    ['an escaped secret_key field', `{"keys": {"${tz1.pkh}": {"secret\\u005fkey": "\\u0065${tz1.secretKey.slice(1)}"}}}`],
    ['an escaped list item', `{"keys": ["\\u0065${tz1.secretKey.slice(1)}"]}`],
    ['an escaped entry name', `{"keys": {"\\u0065${tz1.secretKey.slice(1)}": {}}}`],
  ];
  for (const [label, text] of escapes) {
    t.notOk(text.includes(tz1.secretKey.slice(0, 8)), `${label}: the text does not hold the secret as written`);
    t.equal(failure(() => loadTezosConfig(write(dir, 'escaped.json', text, 0o644), {})).code, 'KEY_FILE_INSECURE', label);
  }
  const deep = write(dir, 'deep.json', `{"keys": [], "pad": ${'['.repeat(200000)}${']'.repeat(200000)}}`, 0o644);
  t.equal(failure(() => loadTezosConfig(deep, {})).code, 'CONFIG_INVALID', 'deep nesting: an unknown field, not a stack overflow');
  const pass = write(dir, 'pass', 'x', 0o644);
  const enc = write(dir, 'enc.json', { keys: [tz3Encrypted.secretKey] });
  t.equal(failure(() => loadTezosConfig(enc, { passphraseFile: pass })).code, 'KEY_FILE_INSECURE', 'passphrase file 0644');
});

t.test('the keys file sets who may sign what: others may not change it, and it is read once', async (t) => {
  const dir = tempDir(t);
  write(dir, 'tz1.key', tz1.secretKey, 0o600);
  for (const mode of [0o666, 0o646, 0o664]) {
    const file = write(dir, `writable-${mode.toString(8)}.json`, { keys: { [tz1.pkh]: { secret_key_file: 'tz1.key' } } }, mode);
    const err = failure(() => loadTezosConfig(file, {}));
    t.equal(err.code, 'KEY_FILE_INSECURE', `mode ${mode.toString(8)}`);
    t.match(err.message, /writable by group or others \(chmod go-w /);
  }
  t.equal(failure(() => loadTezosConfig(path.join(dir, 'missing.json'), {})).code, 'CONFIG_INVALID', 'a missing file is configuration');
  t.match(failure(() => loadTezosConfig(dir, {})).message, /not a regular file/, 'a directory');
  // Re-read on SIGHUP, on the event loop: a FIFO is refused at once, never waited on.
  execFileSync('mkfifo', ['-m', '600', path.join(dir, 'fifo.json')]);
  t.match(
    failure(() => loadTezosConfig(path.join(dir, 'fifo.json'), {})),
    { code: 'CONFIG_INVALID', message: /not a regular file/ },
    'a FIFO',
  );
  const big = write(dir, 'big.json', `{"keys": [], "pad": "${'x'.repeat(1024 * 1024)}"}`, 0o644);
  t.match(
    failure(() => loadTezosConfig(big, {})),
    { code: 'CONFIG_INVALID', message: /larger than 1048576 bytes/ },
  );
});

t.test('invalid configurations fail with CONFIG_INVALID and never echo a secret', async (t) => {
  const dir = tempDir(t);
  const cases: Array<[string, unknown, string, RegExp]> = [
    ['not JSON', '{"keys": [', 'CONFIG_INVALID', /not valid JSON/],
    ['unknown top-level field', { keys: [], policyy: {} }, 'CONFIG_INVALID', /policyy/],
    ['HSM signer', { keys: { [`${tz3.publicKey}:pkcs11_hsm`]: { signer_args: ['baking-key'] } } }, 'CONFIG_INVALID', /pkcs11_hsm.*not supported/],
    ['amazon_hsm signer', { keys: { [tz3.pkh]: { public_key: tz3.publicKey, signer: 'amazon_hsm', private_handle: 7 } } }, 'CONFIG_INVALID', /amazon_hsm/],
    ['no secret', { keys: { [tz3.pkh]: { public_key: tz3.publicKey } } }, 'CONFIG_INVALID', /no secret key/],
    ['public key mismatch', { keys: { [tz1.pkh]: { secret_key: tz1.secretKey, public_key: tz3.publicKey } } }, 'CONFIG_INVALID', /does not match/],
    ['pkh mismatch', { keys: { [tz2.pkh]: { secret_key: tz1.secretKey } } }, 'CONFIG_INVALID', /does not match/],
    ['duplicate key', { keys: [tz1.secretKey, vectors.keys[1]!.secretKey] }, 'CONFIG_INVALID', /twice/],
    ['garbage secret', { keys: { [tz1.pkh]: { secret_key: tz1.secretKey.slice(0, -2) + 'zz' } } }, 'KEY_LOAD_FAILED', /keys\./],
    ['authorized pkh instead of key', { keys: [], authorized_keys: [tz1.pkh] }, 'CONFIG_INVALID', /not a public key/],
    ['bad port', { keys: [], bind_port: 70000 }, 'CONFIG_INVALID', /bind_port/],
    ['bad policy', { keys: [tz1.secretKey], policy: { voting: ['maybe'] } }, 'CONFIG_INVALID', /voting/],
    ['unknown key field', { keys: { [tz1.pkh]: { secret_key: tz1.secretKey, secret: 'x' } } }, 'CONFIG_INVALID', /secret/],
    // Secrets typed where no secret belongs (secrets probe): named by place or their first 4 characters.
    [
      'secret in authorized_keys',
      { keys: [], authorized_keys: [tz1.publicKey, tz2.secretKey] },
      'CONFIG_INVALID',
      /authorized_keys\[1\]: "spsk…" is not a public key/,
    ],
    [
      'secret after a key hash',
      { keys: { [`${tz1.pkh}:unencrypted:${tz2.secretKey}`]: {} } },
      'CONFIG_INVALID',
      /keys\[0\]: signer "unencrypted" is not supported/,
    ],
    ['secret as signer', { keys: { [tz1.pkh]: { secret_key: tz1.secretKey, signer: tz2.secretKey } } }, 'CONFIG_INVALID', /signer "spsk…" is not supported/],
    ['secret as a field name', { keys: { [tz1.pkh]: { secret_key: tz1.secretKey, [tz2.secretKey]: 1 } } }, 'CONFIG_INVALID', /\.spsk…: unknown field/],
    ['secret as a top-level field', { keys: [], [`unencrypted:${tz3.secretKey}`]: 1 }, 'CONFIG_INVALID', /: unen…: unknown field/],
    [
      'tagged secret as public key',
      { keys: { [tz1.pkh]: { secret_key: tz1.secretKey, public_key: `unencrypted:${tz2.secretKey}` } } },
      'CONFIG_INVALID',
      /unen… does not match/,
    ],
    ['mistyped tagged secret', { keys: { [`unencrypted:${tz1.secretKey.slice(0, -2)}zz`]: {} } }, 'KEY_LOAD_FAILED', /keys\[0\]: not a Tezos secret key/],
  ];
  cases.forEach(([label, content, code, message], i) => {
    const got = failure(() => loadTezosConfig(write(dir, `c${i}.json`, content), {}));
    t.equal(got.code, code, `${label}: code`);
    t.match(got.message, message, `${label}: message`);
    // No 6 characters of a secret past its 4-character prefix.
    const quoted = [tz1.secretKey, tz2.secretKey, tz3.secretKey].some((secret) =>
      Array.from({ length: secret.length - 9 }, (_, i) => secret.slice(i + 4, i + 10)).some((piece) => got.message.includes(piece)),
    );
    t.notOk(quoted, `${label}: no secret in the message`);
  });
  t.equal(failure(() => loadTezosConfig(path.join(dir, 'missing.json'), {})).code, 'CONFIG_INVALID', 'missing file');
});
