// Which token a URI names, on a real SoftHSM2 module: token attributes (manufacturer, model), slot
// attributes and library attributes (C_GetInfo) are matched without their blank padding, never ignored.
import t from 'tap';
import { createToken, needSoftHsm, SOFTHSM_MODULE } from '../../helpers/softhsm.js';
import { codeOf, failureOf } from '../../helpers/error-codes.js';
import { acquireModule, releaseModule } from '../../../lib/keys/pkcs11-module.js';
import { findSlot, listTokens, type TokenSelector } from '../../../lib/keys/pkcs11-slots.js';

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
