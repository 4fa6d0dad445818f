// Kernel module signatures compared in-process with sign-file's committed outputs (test/vectors/firmware/module).
import crypto from 'node:crypto';
import path from 'node:path';
import t from 'tap';
import {
  isSignedModule,
  moduleSignatureTrailer,
  signModule,
  signModuleDigest,
  stripModuleSignatures,
} from '../../../daemons/firmware/formats/kernel-module.js';
import { codeOf } from '../../helpers/error-codes.js';
import { MACHINE, openTestKeyRoot, readVector } from '../../integration/firmware/line-fixtures.js';

t.test('module signatures are byte-identical to sign-file', async (t) => {
  const keys = (await openTestKeyRoot(t.testdir({}))).signer(MACHINE, 'kmodsign');
  const dummy = readVector('module/dummy.ko');
  for (const hash of ['sha256', 'sha512'] as const) {
    const blob = await signModuleDigest(keys, hash, crypto.createHash(hash).update(dummy).digest());
    t.ok(blob.equals(readVector(`module/dummy.ko.${hash}.p7s`)), `${hash} blob == sign-file -d`);
    const signed = await signModule(keys, hash, dummy);
    t.ok(signed.equals(readVector(`module/dummy.ko.${hash}.signed`)), `${hash} module == sign-file`);
    t.ok(isSignedModule(signed));
  }
  t.notOk(isSignedModule(dummy));
  t.same([...moduleSignatureTrailer(0x01020304)], [0, 0, 2, 0, 0, 0, 0, 0, 1, 2, 3, 4]);
  t.equal(path.basename(MACHINE), MACHINE);
});

t.test('stripModuleSignatures gives back the module sign-file signed, and refuses damaged signature blocks', async (t) => {
  const dummy = readVector('module/dummy.ko');
  const signed = readVector('module/dummy.ko.sha512.signed');
  t.same(stripModuleSignatures(dummy), { unsigned: dummy, stripped: 0 }, 'an unsigned module is left as it is');
  const once = stripModuleSignatures(signed);
  t.ok(once.unsigned.equals(dummy), 'one signature stripped: the original module');
  t.equal(once.stripped, 1);
  const twice = stripModuleSignatures(Buffer.concat([signed, signed.subarray(dummy.length)]));
  t.ok(twice.unsigned.equals(dummy), 'a signature appended to a signed module: both stripped');
  t.equal(twice.stripped, 2);
  const damage = (at: number, value: number) => {
    const copy = Buffer.from(signed);
    copy[copy.length - at] = value;
    return copy;
  };
  // Offsets from the end: magic 28 bytes, then the 12-byte trailer (sig_len in its last 4 bytes).
  t.equal(
    codeOf(() => stripModuleSignatures(damage(28 + 12 - 2, 1))),
    'BAD_REQUEST',
    'id_type not PKCS#7',
  );
  t.equal(
    codeOf(() => stripModuleSignatures(damage(28 + 12, 1))),
    'BAD_REQUEST',
    'algo not zero',
  );
  t.equal(
    codeOf(() => stripModuleSignatures(damage(28 + 4, 0x7f))),
    'BAD_REQUEST',
    'sig_len past the start of the file',
  );
  t.equal(
    codeOf(() => stripModuleSignatures(damage(28 + 1, signed[signed.length - 29]! - 1))),
    'BAD_REQUEST',
    'sig_len one short of the DER blob',
  );
  t.equal(
    codeOf(() => stripModuleSignatures(Buffer.from('~Module signature appended~\n'))),
    'BAD_REQUEST',
    'the magic alone',
  );
});
