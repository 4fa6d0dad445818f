// Fail closed: a signature that does not verify with the key's public half is never returned
// (a key whose halves disagree stands in for a faulty signer), and a missing key is UNKNOWN_KEY.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { createFirmwareSigner, loadKeyRoot, type FirmwareKey } from '../../../daemons/firmware/firmware-signer.js';
import { signCmsDigest } from '../../../daemons/firmware/cms-signature.js';
import { signMenderDigest, signMenderManifest } from '../../../daemons/firmware/mender-signature.js';
import { signModuleDigest, signModuleFile } from '../../../daemons/firmware/module-signature.js';
import { buildOpteeTa, signOpteeDigest } from '../../../daemons/firmware/optee-signature.js';
import { signSwupdateDigest } from '../../../daemons/firmware/swupdate-signature.js';
import { copyKeyRoot, DISTRO, MACHINE, readVector, RSA_MENDER_DISTRO } from '../../integration/firmware/line-fixtures.js';

const FAILED = { code: 'SIGNATURE_CHECK_FAILED' };

t.test('a signature that does not verify is withheld', async (t) => {
  const root = loadKeyRoot(copyKeyRoot(t.testdir({})));
  const strangerRsa = crypto.createPublicKey(crypto.createPrivateKey(readVector('keyroot/qemux86-64/opteesign/optee-signing-key.pem')));
  const strangerEc = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey;
  const broken = (key: FirmwareKey, publicKey: crypto.KeyObject): FirmwareKey => ({ ...key, publicKey });
  const d32 = crypto.randomBytes(32);

  const modules = root.modules(MACHINE);
  const badModules = { ...modules, key: broken(modules.key, strangerRsa) };
  t.throws(() => signModuleDigest(badModules, 'sha256', d32), FAILED);
  await t.rejects(signModuleFile(badModules, 'sha256', Buffer.from('module')), FAILED);

  const swu = root.swupdate(DISTRO);
  const badSwu = { rsa: broken(swu.rsa!, strangerRsa), cms: { ...swu.cms!, key: broken(swu.cms!.key, strangerRsa) } };
  for (const method of ['RSA', 'RSA-PSS', 'CMS'] as const) await t.rejects(signSwupdateDigest(badSwu, method, d32), FAILED, method);
  await t.rejects(signCmsDigest(badSwu.cms, d32), FAILED);

  const ec = broken(root.mender(DISTRO), strangerEc);
  t.throws(() => signMenderDigest(ec, d32), FAILED);
  await t.rejects(signMenderManifest(ec, readVector('mender/manifest')), FAILED);
  t.throws(() => signMenderDigest(broken(root.mender(RSA_MENDER_DISTRO), strangerRsa), d32), FAILED);

  const optee = broken(root.optee(MACHINE), crypto.createPublicKey(root.modules(MACHINE).key.privateKey));
  for (const algo of ['PKCS1', 'PSS'] as const) t.throws(() => signOpteeDigest(optee, algo, d32), FAILED, algo);
  t.throws(() => buildOpteeTa(optee, { uuid: '8aaaf200-2450-11e4-abe2-0002a5d5c51b', version: 1, elf: Buffer.from('x'), algo: 'PKCS1' }), FAILED);
});

t.test('a swupdate distro with only one kind of key', async (t) => {
  const dir = copyKeyRoot(t.testdir({}));
  fs.rmSync(path.join(dir, DISTRO, 'swupdate/cms.cert'));
  fs.rmSync(path.join(dir, DISTRO, 'swupdate/cms-private.key'));
  const signer = createFirmwareSigner(loadKeyRoot(dir));
  await t.rejects(signer.swupdateSignatureOfDigest(DISTRO, 'CMS', crypto.randomBytes(32)), { code: 'UNKNOWN_KEY' });
  t.equal((await signer.swupdateSignatureOfDigest(DISTRO, 'RSA', crypto.randomBytes(32))).length, 256);
  t.throws(() => signer.keyInfo(DISTRO, 'swupdate-cms'), { code: 'UNKNOWN_KEY' });
  await t.rejects(signer.moduleSignature(MACHINE, 'sha384', crypto.randomBytes(32)), { code: 'BAD_REQUEST' });
});
