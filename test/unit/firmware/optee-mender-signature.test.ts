// OP-TEE and Mender in-process against the committed openssl references; ECDSA checked by node:crypto.
import crypto from 'node:crypto';
import t from 'tap';
import { checkMenderManifest, signMenderManifest } from '../../../daemons/firmware/formats/mender.js';
import { signTa } from '../../../daemons/firmware/formats/optee.js';
import { DISTRO, MACHINE, openTestKeyRoot, readVector, RSA_MENDER_DISTRO } from '../../integration/firmware/line-fixtures.js';

const UUID = '8aaaf200-2450-11e4-abe2-0002a5d5c51b';

t.test('OP-TEE and Mender signatures', async (t) => {
  const root = await openTestKeyRoot(t.testdir({}));
  const optee = root.signer(MACHINE, 'opteesign');
  const elf = readVector(`optee/${UUID}.stripped.elf`);
  t.ok((await signTa(optee, { uuid: UUID, version: 7, elf, algo: 'PKCS1' })).equals(readVector(`optee/${UUID}.pkcs1.v7.ta`)), 'PKCS#1 TA == openssl reference');
  await t.rejects(signTa(optee, { uuid: 'x', version: 1, elf, algo: 'PSS' }), { code: 'BAD_REQUEST' });
  await t.rejects(signTa(optee, { uuid: UUID, version: -1, elf, algo: 'PSS' }), { code: 'BAD_REQUEST' });

  const manifest = readVector('mender/manifest');
  t.equal(checkMenderManifest(manifest), 3);
  t.equal(
    await signMenderManifest(root.signer(RSA_MENDER_DISTRO, 'mender'), manifest),
    readVector('mender/manifest.sig.rsa').toString(),
    'RSA == openssl dgst | base64',
  );
  const ec = root.signer(DISTRO, 'mender');
  const sig = Buffer.from(await signMenderManifest(ec, manifest), 'base64');
  t.ok(crypto.verify('sha256', manifest, { key: ec.publicKey, dsaEncoding: 'ieee-p1363' }, sig), 'P-256 r||s verifies with OpenSSL');
});
