// Key files: every PEM shape operators bring (PKCS#8, PKCS#1, SEC1) loads as the same key; loose
// modes, wrong types and private keys in a verifier's keyring are refused with their codes.
import t from 'tap';
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { keyIdOf } from '../../../lib/keys/key-file.js';
import { loadFileSigningKey } from '../../../lib/keys/signing-key.js';
import { loadKeyring } from '../../../lib/keys/public-keyring.js';
import { loadClientRegistry } from '../../../lib/channels/client-registry.js';
import { codeOf } from '../../helpers/error-codes.js';

t.test('PKCS#8, PKCS#1 and SEC1 PEM load as the same signing key', async (t) => {
  const dir = t.testdir();
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  const write = (name: string, pem: string | Buffer): string => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, pem, { mode: 0o600 });
    return file;
  };
  const shapes: Array<[string, crypto.KeyObject, 'rsa-pss-sha256' | 'ecdsa-p384-sha384', string | Buffer]> = [
    ['rsa pkcs8', rsa.privateKey, 'rsa-pss-sha256', rsa.privateKey.export({ type: 'pkcs8', format: 'pem' })],
    ['rsa pkcs1', rsa.privateKey, 'rsa-pss-sha256', rsa.privateKey.export({ type: 'pkcs1', format: 'pem' })],
    ['ec pkcs8', ec.privateKey, 'ecdsa-p384-sha384', ec.privateKey.export({ type: 'pkcs8', format: 'pem' })],
    ['ec sec1', ec.privateKey, 'ecdsa-p384-sha384', ec.privateKey.export({ type: 'sec1', format: 'pem' })],
  ];
  for (const [name, key, algorithm, pem] of shapes) {
    t.match(
      String(pem),
      name.endsWith('pkcs1') ? /BEGIN RSA PRIVATE KEY/ : name.endsWith('sec1') ? /BEGIN EC PRIVATE KEY/ : /BEGIN PRIVATE KEY/,
      `${name} is really that PEM shape`,
    );
    const loaded = loadFileSigningKey(write(name.replace(' ', '-') + '.pem', pem), algorithm);
    t.equal(loaded.keyId, keyIdOf(crypto.createPublicKey(key)), `${name}: same key id`);
    const sig = await loaded.sign(Buffer.from('x'));
    t.ok(sig.length > 0, `${name}: signs`);
  }
});

t.test('refusals carry their codes', async (t) => {
  const dir = t.testdir();
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  const loose = path.join(dir, 'loose.pem');
  fs.writeFileSync(loose, ec.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o644 });
  fs.chmodSync(loose, 0o644);
  t.equal(
    codeOf(() => loadFileSigningKey(loose, 'ecdsa-p384-sha384')),
    'KEY_FILE_INSECURE',
  );
  fs.chmodSync(loose, 0o600);
  t.equal(
    codeOf(() => loadFileSigningKey(loose, 'rsa-pss-sha256')),
    'KEY_LOAD_FAILED',
    'an EC key for the RSA daemon',
  );
  t.equal(
    codeOf(() => loadFileSigningKey(path.join(dir, 'missing.pem'), 'rsa-pss-sha256')),
    'KEY_LOAD_FAILED',
  );
  const garbage = path.join(dir, 'garbage.pem');
  fs.writeFileSync(garbage, 'not a key', { mode: 0o600 });
  t.equal(
    codeOf(() => loadFileSigningKey(garbage, 'rsa-pss-sha256')),
    'KEY_LOAD_FAILED',
  );
  t.equal(
    codeOf(() => loadKeyring([loose], 'ecdsa-p384-sha384')),
    'KEY_LOAD_FAILED',
    'a private key in a keyring',
  );
  const pub = path.join(dir, 'keys');
  fs.mkdirSync(pub);
  fs.writeFileSync(path.join(pub, 'a.pem'), ec.publicKey.export({ type: 'spki', format: 'pem' }));
  fs.writeFileSync(path.join(pub, 'notes.txt'), 'ignored: not a key file name');
  t.same(loadKeyring([pub], 'ecdsa-p384-sha384').keyIds, [keyIdOf(ec.publicKey)], 'a directory keyring reads *.pem only');
  t.equal(
    codeOf(() => loadKeyring([path.join(dir, 'empty')], 'ecdsa-p384-sha384')),
    'KEY_LOAD_FAILED',
  );
});

t.test('a public key given as the private key is named as such, whatever its mode', async (t) => {
  const dir = t.testdir();
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  const file = path.join(dir, 'ecdsa-pub.pem');
  fs.writeFileSync(file, ec.publicKey.export({ type: 'spki', format: 'pem' }));
  for (const mode of [0o644, 0o600]) {
    fs.chmodSync(file, mode);
    t.throws(
      () => loadFileSigningKey(file, 'ecdsa-p384-sha384'),
      { code: 'KEY_LOAD_FAILED', message: /holds a public key or certificate; give the private key/ },
      `mode ${mode.toString(8)}`,
    );
  }
  // A loose file that holds a private key is still refused for its mode, not read.
  const both = path.join(dir, 'both.pem');
  fs.writeFileSync(both, `${String(ec.publicKey.export({ type: 'spki', format: 'pem' }))}${String(ec.privateKey.export({ type: 'pkcs8', format: 'pem' }))}`, {
    mode: 0o644,
  });
  fs.chmodSync(both, 0o644);
  t.equal(
    codeOf(() => loadFileSigningKey(both, 'ecdsa-p384-sha384')),
    'KEY_FILE_INSECURE',
  );
});

t.test('owner and writers: a file another user owns, a group-writable registry, a FIFO', async (t) => {
  const dir = t.testdir();
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  const key = path.join(dir, 'key.pem');
  fs.writeFileSync(key, ec.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  t.equal(loadFileSigningKey(key, 'ecdsa-p384-sha384').keyId, keyIdOf(ec.publicKey), 'our own 0600 file loads');
  if (process.getuid?.() === 0) {
    // Root may own a key and read any: the file of another user (who could rewrite it) is refused.
    fs.chownSync(key, 65534, 65534);
    t.throws(() => loadFileSigningKey(key, 'ecdsa-p384-sha384'), { code: 'KEY_FILE_INSECURE', message: /owned by uid 65534/ });
    fs.chownSync(key, 0, 0);
  }
  const registry = path.join(dir, 'clients.txt');
  fs.writeFileSync(registry, `alice cert-sha256:${'ab'.repeat(32)}\n`);
  fs.chmodSync(registry, 0o644);
  t.equal(loadClientRegistry(registry).kind, 'closed', 'a 0644 certificate registry is fine: it holds no secret');
  fs.chmodSync(registry, 0o666);
  t.throws(() => loadClientRegistry(registry), { code: 'KEY_FILE_INSECURE', message: /writable by group or others/ }, 'anyone could enroll themselves');
  fs.chmodSync(registry, 0o620);
  t.throws(() => loadClientRegistry(registry), { code: 'KEY_FILE_INSECURE' }, 'group-writable too');
  const fifo = path.join(dir, 'fifo.pem');
  execFileSync('mkfifo', ['-m', '600', fifo]);
  t.throws(() => loadFileSigningKey(fifo, 'ecdsa-p384-sha384'), { code: 'KEY_LOAD_FAILED', message: /not a regular file/ }, 'a FIFO is refused at once');
});

t.test('a secret or a registry in a directory group or others may rename in is refused, unless the directory is sticky', async (t) => {
  const dir = t.testdir({ open: {}, sticky: {} });
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  for (const sub of ['open', 'sticky']) {
    fs.writeFileSync(path.join(dir, sub, 'key.pem'), ec.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  }
  fs.chmodSync(path.join(dir, 'open'), 0o777);
  fs.chmodSync(path.join(dir, 'sticky'), 0o1777);
  t.throws(() => loadFileSigningKey(path.join(dir, 'open', 'key.pem'), 'ecdsa-p384-sha384'), {
    code: 'KEY_FILE_INSECURE',
    message: /is under .*open, which has mode 0777; group or others could replace what it holds \(chmod go-w /,
  });
  t.equal(loadFileSigningKey(path.join(dir, 'sticky', 'key.pem'), 'ecdsa-p384-sha384').keyId, keyIdOf(ec.publicKey), 'a sticky directory (like /tmp) is fine');
  // A link from a safe directory to a key in an open one: where the key lives counts too.
  fs.symlinkSync(path.join(dir, 'open', 'key.pem'), path.join(dir, 'link.pem'));
  t.throws(() => loadFileSigningKey(path.join(dir, 'link.pem'), 'ecdsa-p384-sha384'), { code: 'KEY_FILE_INSECURE' });
  // A client registry there too: an old registry swapped in would bring back a revoked client.
  fs.writeFileSync(path.join(dir, 'open', 'clients.txt'), `alice cert-sha256:${'ab'.repeat(32)}\n`, { mode: 0o644 });
  t.throws(() => loadClientRegistry(path.join(dir, 'open', 'clients.txt')), {
    code: 'KEY_FILE_INSECURE',
    message: /group or others could replace what it holds/,
  });
  // A directory further up counts as the one holding the file: renaming a parent swaps all below it.
  fs.mkdirSync(path.join(dir, 'open', 'deep'), { mode: 0o700 });
  fs.writeFileSync(path.join(dir, 'open', 'deep', 'key.pem'), ec.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  t.throws(() => loadFileSigningKey(path.join(dir, 'open', 'deep', 'key.pem'), 'ecdsa-p384-sha384'), {
    code: 'KEY_FILE_INSECURE',
    message: /deep\/key\.pem is under .*\/open, which has mode 0777/,
  });
});

t.test('key material pasted where its path goes is not echoed', async (t) => {
  const pem = crypto.generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  let message = '';
  try {
    loadFileSigningKey(pem, 'ecdsa-p384-sha384');
  } catch (err) {
    t.equal((err as { code?: string }).code, 'KEY_LOAD_FAILED');
    message = (err as Error).message;
  }
  t.notMatch(message, /BEGIN|MI[GH]/, 'no part of the key in the message');
  t.match(message, /not a path: it looks like key material; not shown/);
});

t.test("a secret in systemd's credentials directory may show group read (the ACL's mask), and only there", async (t) => {
  const dir = t.testdir({ credentials: {}, elsewhere: {} });
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  const pem = ec.privateKey.export({ type: 'pkcs8', format: 'pem' });
  for (const sub of ['credentials', 'elsewhere']) fs.writeFileSync(path.join(dir, sub, 'signing-key.pem'), pem, { mode: 0o440 });
  const saved = process.env['CREDENTIALS_DIRECTORY'];
  process.env['CREDENTIALS_DIRECTORY'] = path.join(dir, 'credentials');
  t.teardown(() => {
    if (saved === undefined) delete process.env['CREDENTIALS_DIRECTORY'];
    else process.env['CREDENTIALS_DIRECTORY'] = saved;
  });
  // systemd writes a credential 0400 and adds a read ACL for the service user: stat shows 0440.
  t.equal(loadFileSigningKey(path.join(dir, 'credentials', 'signing-key.pem'), 'ecdsa-p384-sha384').keyId, keyIdOf(ec.publicKey), 'accepted there');
  t.throws(() => loadFileSigningKey(path.join(dir, 'elsewhere', 'signing-key.pem'), 'ecdsa-p384-sha384'), { code: 'KEY_FILE_INSECURE' }, 'refused elsewhere');
  fs.chmodSync(path.join(dir, 'credentials', 'signing-key.pem'), 0o444);
  t.throws(
    () => loadFileSigningKey(path.join(dir, 'credentials', 'signing-key.pem'), 'ecdsa-p384-sha384'),
    { code: 'KEY_FILE_INSECURE' },
    'readable by others: refused there too',
  );
});
