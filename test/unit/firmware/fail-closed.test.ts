// Fail closed: a signature that does not verify with the key's public half is never returned
// (a key whose halves disagree stands in for a faulty signer, file or HSM), and a missing key is UNKNOWN_KEY.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { signCmsDigest } from '../../../daemons/firmware/formats/cms.js';
import type { DigestSigner } from '../../../daemons/firmware/formats/digest-signer.js';
import { signModule, signModuleDigest } from '../../../daemons/firmware/formats/kernel-module.js';
import { signMenderDigest, signMenderManifest } from '../../../daemons/firmware/formats/mender.js';
import { signTa, signTaDigest } from '../../../daemons/firmware/formats/optee.js';
import { signSwDescriptionDigest, swupdateSlot } from '../../../daemons/firmware/formats/swupdate.js';
import { checkedSigner } from '../../../daemons/firmware/keys/checked-signer.js';
import { fileSigner } from '../../../daemons/firmware/keys/file-key.js';
import { describePublicKey, type KeyFacts } from '../../../daemons/firmware/keys/key-facts.js';
import { openKeyRoot } from '../../../daemons/firmware/keys/key-root.js';
import { copyKeyRoot, DISTRO, MACHINE, openTestKeyRoot, readVector, RSA_MENDER_DISTRO } from '../../integration/firmware/line-fixtures.js';

const FAILED = { code: 'SIGNATURE_CHECK_FAILED' };

t.test('a signature that does not verify is withheld', async (t) => {
  const dir = t.testdir({});
  const root = await openTestKeyRoot(dir);
  const keyFile = (...parts: string[]) => path.join(dir, 'keyroot', ...parts);
  const strangerRsa = crypto.createPublicKey(crypto.createPrivateKey(readVector('keyroot/qemux86-64/opteesign/optee-signing-key.pem')));
  const strangerEc = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey;
  /** The real private key and certificate, but the facts (public key) of another key. */
  const broken = (signer: DigestSigner, file: string, publicKey: crypto.KeyObject): DigestSigner =>
    fileSigner(crypto.createPrivateKey(fs.readFileSync(file)), describePublicKey(publicKey) as KeyFacts, signer.certificate);
  const d32 = crypto.randomBytes(32);

  const badModules = broken(root.signer(MACHINE, 'kmodsign'), keyFile(MACHINE, 'kmodsign/kernel-signkey.priv'), strangerRsa);
  await t.rejects(signModuleDigest(badModules, 'sha256', d32), FAILED);
  await t.rejects(signModule(badModules, 'sha256', Buffer.from('module')), FAILED);

  const badRsa = broken(root.signer(DISTRO, 'swupdate-rsa'), keyFile(DISTRO, 'swupdate/rsa-private.key'), strangerRsa);
  const badCms = broken(root.signer(DISTRO, 'swupdate-cms'), keyFile(DISTRO, 'swupdate/cms-private.key'), strangerRsa);
  for (const method of ['RSA', 'RSA-PSS'] as const) await t.rejects(signSwDescriptionDigest(badRsa, method, d32), FAILED, method);
  await t.rejects(signSwDescriptionDigest(badCms, 'CMS', d32), FAILED, 'CMS');
  await t.rejects(signCmsDigest(badCms, d32), FAILED);

  const ec = broken(root.signer(DISTRO, 'mender'), keyFile(DISTRO, 'mender/private.key'), strangerEc);
  await t.rejects(signMenderDigest(ec, d32), FAILED);
  await t.rejects(signMenderManifest(ec, readVector('mender/manifest')), FAILED);
  await t.rejects(
    signMenderDigest(broken(root.signer(RSA_MENDER_DISTRO, 'mender'), keyFile(RSA_MENDER_DISTRO, 'mender/private.key'), strangerRsa), d32),
    FAILED,
  );

  const modulesPublic = root.signer(MACHINE, 'kmodsign').publicKey;
  const optee = broken(root.signer(MACHINE, 'opteesign'), keyFile(MACHINE, 'opteesign/optee-signing-key.pem'), modulesPublic);
  for (const algo of ['PKCS1', 'PSS'] as const) await t.rejects(signTaDigest(optee, algo, d32), FAILED, algo);
  await t.rejects(signTa(optee, { uuid: '8aaaf200-2450-11e4-abe2-0002a5d5c51b', version: 1, elf: Buffer.from('x'), algo: 'PKCS1' }), FAILED);
});

t.test('a backend (an HSM) answering a wrong signature: withheld on the one checked path', async (t) => {
  const root = await openTestKeyRoot(t.testdir({}));
  const real = root.signer(DISTRO, 'swupdate-rsa');
  const garbage = async () => crypto.randomBytes(real.sigBytes);
  const faulty = checkedSigner(real, null, { signDigest: garbage, signMessage: garbage });
  await t.rejects(faulty.sign('rsa-pkcs1-sha256', crypto.randomBytes(32)), FAILED, 'digest');
  await t.rejects(faulty.signMessage('rsa-pkcs1-sha256', Buffer.from('message')), FAILED, 'message');
  const short = checkedSigner(real, null, { signDigest: async () => Buffer.alloc(0), signMessage: async () => Buffer.alloc(0) });
  await t.rejects(short.sign('rsa-pss-sha256-max-salt', crypto.randomBytes(32)), FAILED, 'an empty signature');
  await t.rejects(faulty.sign('ecdsa-sha256', crypto.randomBytes(32)), { code: 'INTERNAL' }, 'a scheme the key cannot do is a bug, not a signature');
});

t.test('a swupdate distro with only one kind of key', async (t) => {
  const dir = copyKeyRoot(t.testdir({}));
  fs.rmSync(path.join(dir, DISTRO, 'swupdate/cms.cert'));
  fs.rmSync(path.join(dir, DISTRO, 'swupdate/cms-private.key'));
  const root = await openKeyRoot(dir, { callMsMax: 5_000 });
  t.throws(() => root.signer(DISTRO, swupdateSlot('CMS')), { code: 'UNKNOWN_KEY' }, 'signing with method CMS');
  t.throws(() => root.signer(DISTRO, 'swupdate-cms'), { code: 'UNKNOWN_KEY' }, 'KEYINFO of the CMS slot');
  t.equal((await signSwDescriptionDigest(root.signer(DISTRO, 'swupdate-rsa'), 'RSA', crypto.randomBytes(32))).length, 256);
  await t.rejects(signModuleDigest(root.signer(MACHINE, 'kmodsign'), 'sha384', crypto.randomBytes(32)), { code: 'BAD_REQUEST' });
});
