// Which token a URI names, on a real SoftHSM2 module: token attributes (manufacturer, model), slot
// attributes and library attributes (C_GetInfo) are matched without their blank padding, never ignored;
// which module file may be loaded at all (the trusted-file rule: it runs inside and gets the PIN); and
// two key objects under one name, refused with the hint that tells them apart.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { createToken, needSoftHsm, SOFTHSM_MODULE } from '../../helpers/softhsm.js';
import { codeOf, failureOf } from '../../helpers/error-codes.js';
import { acquireModule, releaseModule } from '../../../lib/keys/pkcs11-module.js';
import { findSlot, listTokens, type TokenSelector } from '../../../lib/keys/pkcs11-slots.js';
import { openPkcs11SigningKey } from '../../../lib/keys/pkcs11-signing-key.js';

t.test('token and library attributes select the token', needSoftHsm(), async (t) => {
  const token = createToken('match-test');
  const savedConf = process.env['SOFTHSM2_CONF'];
  process.env['SOFTHSM2_CONF'] = token.env.SOFTHSM2_CONF;
  const module = acquireModule(SOFTHSM_MODULE);
  t.teardown(() => {
    releaseModule(module);
    if (savedConf === undefined) delete process.env['SOFTHSM2_CONF'];
    else process.env['SOFTHSM2_CONF'] = savedConf;
    token.cleanup();
  });
  const api = module.api;
  const ours = listTokens(api).find((s) => s.label === token.label)!;
  const info = api.C_GetInfo();
  const library = {
    libraryManufacturer: info.manufacturerID.trimEnd(),
    libraryDescription: info.libraryDescription.trimEnd(),
    libraryVersion: info.libraryVersion,
  };
  const find = (extra: Omit<TokenSelector, 'token'>): Buffer => findSlot(api, { token: token.label, ...extra });

  t.equal(ours.manufacturer, 'SoftHSM project', 'listed without padding');
  t.equal(ours.model, 'SoftHSM v2');
  t.same(find({ manufacturer: ours.manufacturer, model: ours.model }), ours.slot, 'manufacturer and model match');
  t.same(find({ slotManufacturer: ours.slotManufacturer, slotDescription: ours.slotDescription }), ours.slot, 'slot attributes match');
  t.same(find(library), ours.slot, 'library attributes match C_GetInfo');

  const noToken: Array<[string, Omit<TokenSelector, 'token'>]> = [
    ['model', { model: 'Nonexistent' }],
    ['manufacturer', { manufacturer: 'SoftHSM' }],
    ['padded model', { model: 'SoftHSM v2      ' }],
    ['slot-manufacturer', { slotManufacturer: 'Acme' }],
    ['slot-description', { slotDescription: 'another slot' }],
  ];
  for (const [what, extra] of noToken)
    t.equal(
      codeOf(() => find(extra)),
      'BACKEND_UNAVAILABLE',
      `${what} that differs: no token`,
    );
  t.match(failureOf(() => find({ model: 'Nonexistent' })).message, `no token matches the URI (tokens present: "match-test" model="SoftHSM v2"`);

  const wrongLibrary: Array<Omit<TokenSelector, 'token'>> = [
    { libraryManufacturer: 'Nobody' },
    { libraryDescription: 'Something else' },
    { libraryVersion: { major: info.libraryVersion.major, minor: info.libraryVersion.minor + 1 } },
  ];
  for (const extra of wrongLibrary) {
    const failure = failureOf(() => find(extra));
    t.equal(failure.code, 'BACKEND_UNAVAILABLE', JSON.stringify(extra));
    t.match(failure.message, /^the module does not match the URI \(it has library-/);
  }
  t.equal(
    codeOf(() => findSlot(api, { model: 'SoftHSM v2' })),
    'CONFIG_INVALID',
    'model alone does not name the token',
  );
});

t.test('the module file: loaded only if no one but its owner (us or root) could have changed it', needSoftHsm(), async (t) => {
  const token = createToken('module-test');
  const savedConf = process.env['SOFTHSM2_CONF'];
  process.env['SOFTHSM2_CONF'] = token.env.SOFTHSM2_CONF;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signerd-module-'));
  t.teardown(() => {
    if (savedConf === undefined) delete process.env['SOFTHSM2_CONF'];
    else process.env['SOFTHSM2_CONF'] = savedConf;
    token.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  fs.chmodSync(dir, 0o755);
  const copy = path.join(dir, 'libsofthsm2.so');
  fs.copyFileSync(SOFTHSM_MODULE, copy);
  fs.chmodSync(copy, 0o644);
  const loads = (file: string): string => {
    const { code, message } = failureOf(() => releaseModule(acquireModule(file)));
    return code === 'none' ? 'loaded' : `${code}: ${message}`;
  };
  t.equal(loads(SOFTHSM_MODULE), 'loaded', "the distribution's module (root, 0644, reached through a symlink under /usr/lib)");
  t.equal(loads(copy), 'loaded', 'our own 0644 copy in our own 0755 directory');

  fs.chmodSync(copy, 0o666);
  t.match(loads(copy), /^KEY_FILE_INSECURE: PKCS#11 module \S+libsofthsm2\.so has mode 0666; it must not be writable by group or others \(chmod go-w /);
  fs.chmodSync(copy, 0o620);
  t.match(loads(copy), /^KEY_FILE_INSECURE: .* has mode 0620/, 'group-writable too');
  fs.chmodSync(copy, 0o644);

  // Another user could put their own module in place of ours in a directory they may rename in.
  fs.chmodSync(dir, 0o777);
  t.match(loads(copy), /^KEY_FILE_INSECURE: PKCS#11 module \S+ is under \S+signerd-module-\w+, which has mode 0777; /);
  // A symlink from a safe place does not launder it: the directories where it leads count too.
  const safe = fs.mkdtempSync(path.join(os.tmpdir(), 'signerd-module-link-'));
  t.teardown(() => fs.rmSync(safe, { recursive: true, force: true }));
  fs.chmodSync(safe, 0o755);
  fs.symlinkSync(copy, path.join(safe, 'module.so'));
  t.match(loads(path.join(safe, 'module.so')), /^KEY_FILE_INSECURE: .* is under \S+signerd-module-\w+, which has mode 0777; /, 'through a symlink');
  fs.chmodSync(dir, 0o755);
  t.equal(loads(path.join(safe, 'module.so')), 'loaded', 'the same link once the directory is ours alone');

  if (process.getuid?.() === 0) {
    // Root may load any file: one another user owns (and so could rewrite) is refused.
    fs.chownSync(copy, 65534, 65534);
    t.match(loads(copy), /^KEY_FILE_INSECURE: PKCS#11 module \S+ is owned by uid 65534; /);
    fs.chownSync(copy, 0, 0);
  }
  t.match(loads(path.join(dir, 'missing.so')), /^KEY_LOAD_FAILED: PKCS#11 module \S+missing\.so: ENOENT$/);
  t.match(loads(dir), /^KEY_LOAD_FAILED: PKCS#11 module \S+: not a regular file$/);
});

t.test('two private keys under one name: CONFIG_INVALID at start-up, with a hint the URI can follow', needSoftHsm(), async (t) => {
  const token = createToken('duplicate-test');
  const savedConf = process.env['SOFTHSM2_CONF'];
  process.env['SOFTHSM2_CONF'] = token.env.SOFTHSM2_CONF;
  t.teardown(() => {
    if (savedConf === undefined) delete process.env['SOFTHSM2_CONF'];
    else process.env['SOFTHSM2_CONF'] = savedConf;
    token.cleanup();
  });
  const keypair = (label: string, id: string): string => token.pkcs11Tool(['--keypairgen', '--key-type', 'EC:secp384r1', '--label', label, '--id', id]);
  keypair('shared-label', '01');
  keypair('shared-label', '02');
  keypair('one', '0a');
  keypair('other', '0a');
  keypair('twin', '0b');
  keypair('twin', '0b');
  const withAttrs = (attrs: string): string => token.tokenUri().replace('?', `;${attrs}?`);
  const failure = async (uri: string): Promise<string> =>
    openPkcs11SigningKey(uri, 'ecdsa-p384-sha384', { callMsMax: 5_000 }).then(
      async (key) => {
        await key.close();
        return 'opened';
      },
      (err: { code?: string; message: string }) => `${err.code}: ${err.message}`,
    );
  t.match(
    await failure(withAttrs('object=shared-label')),
    /^CONFIG_INVALID: .*more than one private key object=shared-label on the token; add id= to the URI$/,
  );
  t.match(
    await failure(withAttrs('id=%0a')),
    /^CONFIG_INVALID: .*more than one private key id=0a on the token; add object= to the URI$/,
    'id= given: object= tells them apart',
  );
  t.match(
    await failure(withAttrs('object=twin;id=%0b')),
    /^CONFIG_INVALID: .*more than one private key object=twin id=0b on the token; the token holds duplicates \(same label and id\); remove one/,
    'both given: nothing a URI can add',
  );
  t.equal(await failure(withAttrs('object=one;id=%0a')), 'opened', 'object= and id= together name one');
});
