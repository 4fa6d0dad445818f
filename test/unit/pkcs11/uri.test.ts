// RFC 7512 pkcs11: URIs, PIN sources and the CKR_* table: pure functions, no token needed.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { describePkcs11Uri, parsePkcs11Uri } from '../../../lib/keys/pkcs11-uri.js';
import { pinFilePath, readPin } from '../../../lib/keys/pkcs11-pin.js';
import { CKR_TABLE, classifyPkcs11Error } from '../../../lib/keys/pkcs11-errors.js';
import { normaliseLowS } from '../../../lib/keys/pkcs11-mechanisms.js';
import { codeOf } from '../../helpers/error-codes.js';

const MODULE = 'module-path=/usr/lib/softhsm/libsofthsm2.so';

t.test('parses the RFC 7512 attributes signerd uses', async (t) => {
  const uri = parsePkcs11Uri(`pkcs11:token=My%20Token;object=sign%2Drsa;id=%01%ff;type=private;slot-id=7;x-vendor=1?${MODULE}&pin-source=file:/run/pin`);
  t.same(
    { ...uri, id: uri.id?.toString('hex') },
    {
      modulePath: '/usr/lib/softhsm/libsofthsm2.so',
      token: 'My Token',
      object: 'sign-rsa',
      id: '01ff',
      type: 'private',
      slotId: 7,
      pinSource: 'file:/run/pin',
    },
  );
  t.equal(describePkcs11Uri(uri), 'pkcs11:token=My%20Token;slot-id=7;object=sign-rsa;id=%01%ff;type=private', 'the loggable form drops the query');
});

t.test('token, slot and library attributes (RFC 7512 section 2.3)', async (t) => {
  const uri = parsePkcs11Uri(
    `pkcs11:token=a;manufacturer=SoftHSM%20project;model=SoftHSM%20v2;slot-description=Slot%201;slot-manufacturer=Acme;library-manufacturer=SoftHSM;library-description=Implementation%20of%20PKCS11;library-version=2.6?${MODULE}`,
  );
  t.match(uri, {
    token: 'a',
    manufacturer: 'SoftHSM project',
    model: 'SoftHSM v2',
    slotDescription: 'Slot 1',
    slotManufacturer: 'Acme',
    libraryManufacturer: 'SoftHSM',
    libraryDescription: 'Implementation of PKCS11',
    libraryVersion: { major: 2, minor: 6 },
  });
  t.equal(
    describePkcs11Uri(uri),
    'pkcs11:token=a;manufacturer=SoftHSM%20project;model=SoftHSM%20v2;slot-description=Slot%201;slot-manufacturer=Acme;library-manufacturer=SoftHSM;library-description=Implementation%20of%20PKCS11;library-version=2.6',
    'the loggable form keeps them',
  );
  t.same(parsePkcs11Uri(`pkcs11:token=a;library-version=3?${MODULE}`).libraryVersion, { major: 3, minor: 0 }, 'a missing minor is 0');
  for (const bad of ['2.', '.6', '2.6.1', 'v2', '256', '2.256', '']) {
    t.equal(
      codeOf(() => parsePkcs11Uri(`pkcs11:token=a;library-version=${bad}?${MODULE}`)),
      'CONFIG_INVALID',
      `library-version=${bad} refused`,
    );
  }
});

t.test('refuses what would leak a PIN or be ambiguous', async (t) => {
  const bad: Array<[string, RegExp]> = [
    [`pkcs11:token=a;object=b?${MODULE}&pin-value=1234`, /pin-value= is refused/],
    ['pkcs11:token=a;object=b', /module-path= is required/],
    ['pkcs11:token=a?module-path=relative.so', /absolute/],
    [`pkcs11:token=a;token=b?${MODULE}`, /given twice/],
    [`pkcs11:tokn=a?${MODULE}`, /unknown attribute tokn=/],
    [`pkcs11:token=%zz?${MODULE}`, /percent-escape/],
    [`pkcs11:type=door?${MODULE}`, /type= must be/],
    ['file:/etc/key.pem', /must start with pkcs11:/],
  ];
  for (const [text, why] of bad) {
    t.throws(() => parsePkcs11Uri(text), { code: 'CONFIG_INVALID', message: why }, text.replace('1234', '****'));
  }
  try {
    parsePkcs11Uri(`pkcs11:token=a?${MODULE}&pin-value=secret-pin`);
    t.fail('a pin-value URI was accepted');
  } catch (err) {
    t.notMatch((err as Error).message, 'secret-pin', 'the refusal does not echo the PIN');
  }
});

t.test('PIN sources: file, file: URI, systemd credential; loose modes refused', async (t) => {
  const dir = t.testdir({});
  const file = path.join(dir, 'pin');
  fs.writeFileSync(file, '123456\n', { mode: 0o600 });
  t.equal(readPin(file), '123456', 'one trailing newline dropped');
  t.equal(readPin(`file:${file}`), '123456');
  t.equal(readPin(`file://${file}`), '123456');
  t.equal(readPin(undefined), null);
  const saved = process.env['CREDENTIALS_DIRECTORY'];
  process.env['CREDENTIALS_DIRECTORY'] = dir;
  t.teardown(() => (saved === undefined ? delete process.env['CREDENTIALS_DIRECTORY'] : (process.env['CREDENTIALS_DIRECTORY'] = saved)));
  t.equal(readPin('credential:pin'), '123456');
  t.throws(() => pinFilePath('credential:../etc/shadow'), { code: 'CONFIG_INVALID' });
  t.throws(() => pinFilePath('relative/pin'), { code: 'CONFIG_INVALID' });
  // In the credentials directory group read is systemd's ACL mask (systemd/README.md): accepted there.
  fs.chmodSync(file, 0o640);
  t.equal(readPin(file), '123456', 'group read inside $CREDENTIALS_DIRECTORY: the ACL mask of a credential');
  fs.chmodSync(file, 0o644);
  t.throws(() => readPin(file), { code: 'KEY_FILE_INSECURE' }, 'readable by others: refused there too');
  delete process.env['CREDENTIALS_DIRECTORY'];
  fs.chmodSync(file, 0o640);
  t.throws(() => readPin(file), { code: 'KEY_FILE_INSECURE' }, 'group read anywhere else: refused');
});

t.test('CKR table: loss reopens, PIN errors are login failures, unknown fails closed', async (t) => {
  const ckr = (name: string): Error => Object.assign(new Error(name), { name: 'Pkcs11Error' });
  t.match(classifyPkcs11Error(ckr('CKR_DEVICE_REMOVED'), 'sign'), { error: { code: 'BACKEND_UNAVAILABLE' }, recovery: 'reopen' });
  t.match(classifyPkcs11Error(ckr('CKR_SESSION_HANDLE_INVALID'), 'sign'), { recovery: 'reopen' });
  t.match(classifyPkcs11Error(ckr('CKR_PIN_INCORRECT'), 'login'), { error: { code: 'HSM_LOGIN_FAILED' }, recovery: 'none' });
  t.match(classifyPkcs11Error(ckr('CKR_SOMETHING_NEW'), 'sign'), { error: { code: 'BACKEND_UNAVAILABLE' }, recovery: 'discard' });
  t.match(classifyPkcs11Error(new TypeError('bad arg'), 'sign'), { error: { code: 'INTERNAL' }, recovery: 'discard' });
  for (const name of Object.keys(CKR_TABLE)) t.match(name, /^CKR_[A-Z_]+$/);
});

t.test('low-S normalisation', async (t) => {
  const n = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
  const r = Buffer.alloc(32, 1);
  const high = Buffer.from((n - 5n).toString(16).padStart(64, '0'), 'hex');
  const out = normaliseLowS('p256', Buffer.concat([r, high]));
  t.same(out.subarray(0, 32), r);
  t.equal(out.subarray(32).toString('hex'), 5n.toString(16).padStart(64, '0'));
  const low = Buffer.concat([r, Buffer.from('05'.padStart(64, '0'), 'hex')]);
  t.same(normaliseLowS('p256', low), low, 'a low S is left alone');
});
