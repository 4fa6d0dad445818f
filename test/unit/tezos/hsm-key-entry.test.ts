// keys.json HSM entries without a token: signerd's pkcs11_uri and the seed's pkcs11_hsm shape map to
// the expected URI and curve; tz4, secrets beside an HSM key, unnamed keys and PINs in URIs are refused.
import t from 'tap';
import { parsePkcs11Uri } from '../../../lib/keys/pkcs11-uri.js';
import { hsmEntryOf } from '../../../daemons/tezos/config/hsm-key-entry.js';
import { loadTezosConfig } from '../../../daemons/tezos/config/keys-config.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { failureOf as failure } from '../../helpers/error-codes.js';

const TZ1 = {
  pkh: 'tz1b9kV41KV9N3sp69ycLdSoZ2Ak8jXwtNPv',
  pk: 'edpkuhmrbunxumoiVdQuxBZUPMmwkPt7yLtY5Qnua3VJVTLWr3vXXa',
  sk: 'edsk4TjJWEszkHKono7XMnepVqwi37FrpbVt1KCsifJeAGimxheShG',
};
const TZ2 = { pkh: 'tz2Ch1abG7FNiibmV26Uzgdsnfni9XGrk5wD', pk: 'sppk7aqSksZan1AGXuKtCz9UBLZZ77e3ZWGpFxR7ig1Z17GneEhSSbH' };
const TZ3 = { pkh: 'tz3Lfm6CyfSTZ7EgMckptZZGiPxzs9GK59At', pk: 'p2pk66tTYL5EvahKAXncbtbRPBkAnxo3CszzUho5wPCgWauBMyvybuB' };
const TZ4 = 'tz4JmbuiJGyC2thisABCS59PnGr749dsP4WY';
const URI = 'pkcs11:token=baker;object=consensus?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/signerd/hsm.pin';
const SEED_TOP = { hsm_lib: '/opt/vendor/lib pkcs11.so', hsm_slot: 3, hsm_pin_file: 'hsm.pin' };

t.test('entries map to a URI and a curve', async (t) => {
  const defaults = { file: '/etc/signerd/keys.json', top: SEED_TOP };
  const given = hsmEntryOf('keys.x', URI, [], [TZ3.pkh], defaults);
  t.same(given, { where: 'keys.x', uri: URI, curve: 'p256', pkh: TZ3.pkh }, 'pkcs11_uri is taken as given; the pkh picks the curve');
  t.equal(hsmEntryOf('keys.x', URI, [], [TZ2.pk], defaults).curve, 'secp256k1', 'a public key names the key too');
  t.equal(hsmEntryOf('keys.x', URI, [], [TZ1.pkh, TZ1.pk], defaults).pkh, TZ1.pkh, 'pkh and public key may both be given when they agree');

  const seed = hsmEntryOf('keys.y', undefined, ['baking key;tokyo'], [TZ1.pk], defaults);
  const parsed = parsePkcs11Uri(seed.uri);
  t.same(
    { slotId: parsed.slotId, object: parsed.object, modulePath: parsed.modulePath, pinSource: parsed.pinSource },
    { slotId: 3, object: 'baking key;tokyo', modulePath: '/opt/vendor/lib pkcs11.so', pinSource: '/etc/signerd/hsm.pin' },
    "the seed's label, hsm_lib and hsm_slot, and hsm_pin_file relative to keys.json",
  );
  const byToken = parsePkcs11Uri(hsmEntryOf('keys.y', undefined, ['k'], [TZ1.pkh], { ...defaults, top: { ...SEED_TOP, hsm_token: 'baker' } }).uri);
  t.equal(byToken.token, 'baker', 'hsm_token names the token by label');
});

t.test('refusals', async (t) => {
  const defaults = { file: '/etc/signerd/keys.json', top: SEED_TOP };
  const cases: Array<[string, () => unknown, string, RegExp]> = [
    ['tz4', () => hsmEntryOf('keys.z', URI, [], [TZ4], defaults), 'CONFIG_INVALID', /tz4 \(BLS12-381\) keys cannot be held in a PKCS#11 HSM/],
    ['no name', () => hsmEntryOf('keys.z', URI, [], [], defaults), 'CONFIG_INVALID', /must be named by its tz1\/tz2\/tz3 key hash or public key/],
    ['names disagree', () => hsmEntryOf('keys.z', URI, [], [TZ1.pkh, TZ3.pk], defaults), 'CONFIG_INVALID', /name different keys/],
    ['not a key', () => hsmEntryOf('keys.z', URI, [], ['baker'], defaults), 'CONFIG_INVALID', /not a key hash or public key/],
    ['pin-value', () => hsmEntryOf('keys.z', `${URI}&pin-value=1234`, [], [TZ1.pkh], defaults), 'CONFIG_INVALID', /pin-value= is refused/],
    ['not a URI', () => hsmEntryOf('keys.z', '/etc/key.pem', [], [TZ1.pkh], defaults), 'CONFIG_INVALID', /pkcs11_uri: expected a pkcs11: URI/],
    [
      'seed without PIN file',
      () => hsmEntryOf('keys.z', undefined, ['k'], [TZ1.pkh], { ...defaults, top: { hsm_lib: '/x.so', hsm_slot: 1 } }),
      'CONFIG_INVALID',
      /hsm_pin_file/,
    ],
    [
      'seed without slot',
      () => hsmEntryOf('keys.z', undefined, ['k'], [TZ1.pkh], { ...defaults, top: { hsm_lib: '/x.so', hsm_pin_file: 'p' } }),
      'CONFIG_INVALID',
      /hsm_slot .* or hsm_token/,
    ],
    [
      'seed relative module',
      () => hsmEntryOf('keys.z', undefined, ['k'], [TZ1.pkh], { ...defaults, top: { ...SEED_TOP, hsm_lib: 'x.so' } }),
      'CONFIG_INVALID',
      /hsm_lib/,
    ],
  ];
  for (const [label, fn, code, message] of cases) {
    const got = failure(fn);
    t.equal(got.code, code, `${label}: code`);
    t.match(got.message, message, `${label}: message`);
    t.notMatch(got.message, '1234', `${label}: no PIN in the message`);
  }

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signerd-hsm-config-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, content: unknown): string => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, JSON.stringify(content), { mode: 0o600 });
    return file;
  };
  const secretBeside = failure(() => loadTezosConfig(write('a.json', { keys: { [TZ1.pkh]: { pkcs11_uri: URI, secret_key: TZ1.sk } } }), {}));
  t.match(secretBeside, { code: 'CONFIG_INVALID', message: /secret_key: an HSM key has no secret key in keys.json/ });
  t.notMatch(secretBeside.message, TZ1.sk.slice(4, 24), 'the secret is not echoed');
  t.match(
    failure(() => loadTezosConfig(write('b.json', { keys: { [TZ1.pkh]: { pkcs11_uri: URI, signer: 'local' } } }), {})),
    { code: 'CONFIG_INVALID', message: /not "local"/ },
  );
  t.match(
    failure(() => loadTezosConfig(write('c.json', { keys: { [TZ1.pkh]: { pkcs11_uri: URI } } }), {})),
    { code: 'CONFIG_INVALID', message: /opened by the daemon only/ },
    'the synchronous loader takes local keys only',
  );
  t.match(
    failure(() => loadTezosConfig(write('d.json', { keys: [TZ1.sk, `${TZ1.pk}:pkcs11_hsm:k`], ...SEED_TOP }), {})),
    { code: 'CONFIG_INVALID', message: /twice/ },
    'an HSM key and a file key with one pkh',
  );
});
