// Kernel module signatures compared in-process with sign-file's committed outputs (test/vectors/firmware/module).
import crypto from 'node:crypto';
import path from 'node:path';
import t from 'tap';
import { loadKeyRoot } from '../../../daemons/firmware/key-root.js';
import { isSignedModule, moduleSignatureTrailer, signModuleDigest, signModuleFile } from '../../../daemons/firmware/module-signature.js';
import { copyKeyRoot, MACHINE, readVector } from '../../integration/firmware/line-fixtures.js';

t.test('module signatures are byte-identical to sign-file', async (t) => {
  const keys = loadKeyRoot(copyKeyRoot(t.testdir({}))).modules(MACHINE);
  const dummy = readVector('module/dummy.ko');
  for (const hash of ['sha256', 'sha512'] as const) {
    const blob = signModuleDigest(keys, hash, crypto.createHash(hash).update(dummy).digest());
    t.ok(blob.equals(readVector(`module/dummy.ko.${hash}.p7s`)), `${hash} blob == sign-file -d`);
    const signed = await signModuleFile(keys, hash, dummy);
    t.ok(signed.equals(readVector(`module/dummy.ko.${hash}.signed`)), `${hash} module == sign-file`);
    t.ok(isSignedModule(signed));
  }
  t.notOk(isSignedModule(dummy));
  t.same([...moduleSignatureTrailer(0x01020304)], [0, 0, 2, 0, 0, 0, 0, 0, 1, 2, 3, 4]);
  t.equal(path.basename(MACHINE), MACHINE);
});
