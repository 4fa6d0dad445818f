// The key root: names validated before any path is built, lookups by signtype, error codes.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { openKeyRoot, validateSelector } from '../../../daemons/firmware/keys/key-root.js';
import { copyKeyRoot, DISTRO, MACHINE, openTestKeyRoot } from '../../integration/firmware/line-fixtures.js';
import { codeOf } from '../../helpers/error-codes.js';

t.test('validateSelector', async (t) => {
  for (const good of ['qemux86-64', 'poky', 'jetson-agx-orin-devkit', 'a', 'x.y_z', 'A1']) t.equal(validateSelector(good, 'machine'), good);
  for (const bad of ['', '.', '..', '../x', 'a/b', '.hidden', '-x', 'a b', 'a\0b', 'é', 'a'.repeat(65), '%2e%2e']) {
    t.equal(
      codeOf(() => validateSelector(bad, 'machine')),
      'BAD_REQUEST',
      JSON.stringify(bad),
    );
  }
});

t.test('openKeyRoot: lookups by slot', async (t) => {
  const root = await openTestKeyRoot(t.testdir({}));
  t.equal(root.signer(MACHINE, 'kmodsign').description, 'rsa-2048');
  t.equal(root.signer(DISTRO, 'mender').curve, 'prime256v1');
  t.ok(root.signer(DISTRO, 'swupdate-rsa'));
  t.ok(root.signer(DISTRO, 'swupdate-cms').certificate);
  t.equal(root.signer(MACHINE, 'opteesign').sigBytes, 256);
  t.equal(
    codeOf(() => root.signer(DISTRO, 'opteesign')),
    'UNKNOWN_KEY',
  );
  t.equal(
    codeOf(() => root.signer('../poky', 'mender')),
    'BAD_REQUEST',
  );
  t.equal(root.entries().length, 7);
});

t.test('symlinked machine directories share keys; junk names are ignored', async (t) => {
  const dir = copyKeyRoot(t.testdir({}));
  fs.symlinkSync(path.join(dir, MACHINE), path.join(dir, 'qemuarm64'));
  fs.mkdirSync(path.join(dir, 'bad name'));
  fs.mkdirSync(path.join(dir, MACHINE, 'tegrasign'));
  const root = await openKeyRoot(dir, { callMsMax: 5_000 });
  t.equal(root.signer('qemuarm64', 'opteesign').keyId, root.signer(MACHINE, 'opteesign').keyId);
  t.equal(root.entries().length, 11);
});
