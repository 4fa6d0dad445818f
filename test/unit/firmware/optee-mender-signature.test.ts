// OP-TEE and Mender in-process against the committed openssl references; ECDSA checked by node:crypto.
import crypto from 'node:crypto';
import t from 'tap';
import { loadKeyRoot } from '../../../daemons/firmware/key-root.js';
import { signMenderManifest, checkMenderManifest } from '../../../daemons/firmware/mender-signature.js';
import { buildOpteeTa } from '../../../daemons/firmware/optee-signature.js';
import { copyKeyRoot, DISTRO, MACHINE, readVector, RSA_MENDER_DISTRO } from '../../integration/firmware/line-fixtures.js';

const UUID = '8aaaf200-2450-11e4-abe2-0002a5d5c51b';

t.test('OP-TEE and Mender signatures', async (t) => {
  const root = loadKeyRoot(copyKeyRoot(t.testdir({})));
  const elf = readVector(`optee/${UUID}.stripped.elf`);
  t.ok(
    buildOpteeTa(root.optee(MACHINE), { uuid: UUID, version: 7, elf, algo: 'PKCS1' }).equals(readVector(`optee/${UUID}.pkcs1.v7.ta`)),
    'PKCS#1 TA == openssl reference',
  );
  t.throws(() => buildOpteeTa(root.optee(MACHINE), { uuid: 'x', version: 1, elf, algo: 'PSS' }), { code: 'BAD_REQUEST' });
  t.throws(() => buildOpteeTa(root.optee(MACHINE), { uuid: UUID, version: -1, elf, algo: 'PSS' }), { code: 'BAD_REQUEST' });

  const manifest = readVector('mender/manifest');
  t.equal(checkMenderManifest(manifest), 3);
  t.equal(await signMenderManifest(root.mender(RSA_MENDER_DISTRO), manifest), readVector('mender/manifest.sig.rsa').toString(), 'RSA == openssl dgst | base64');
  const ec = root.mender(DISTRO);
  const sig = Buffer.from(await signMenderManifest(ec, manifest), 'base64');
  t.ok(crypto.verify('sha256', manifest, { key: ec.publicKey, dsaEncoding: 'ieee-p1363' }, sig), 'P-256 r||s verifies with OpenSSL');
});
