// The key root: names validated before any path is built, lookups by signtype, error codes.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { loadKeyRoot, validateSelector } from '../../../daemons/firmware/key-root.js';
import { copyKeyRoot, DISTRO, MACHINE } from '../../integration/firmware/line-fixtures.js';
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

t.test('loadKeyRoot: lookups by signtype', async (t) => {
  const root = loadKeyRoot(copyKeyRoot(t.testdir({})));
  t.equal(root.modules(MACHINE).key.description, 'rsa-2048');
  t.equal(root.mender(DISTRO).curve, 'prime256v1');
  t.ok(root.swupdate(DISTRO).rsa);
  t.ok(root.swupdate(DISTRO).cms);
  t.equal(root.optee(MACHINE).sigBytes, 256);
  t.equal(
    codeOf(() => root.optee(DISTRO)),
    'UNKNOWN_KEY',
  );
  t.equal(
    codeOf(() => root.mender('../poky')),
    'BAD_REQUEST',
  );
  t.equal(root.entries().length, 5);
});

t.test('symlinked machine directories share keys; junk names are ignored', async (t) => {
  const dir = copyKeyRoot(t.testdir({}));
  fs.symlinkSync(path.join(dir, MACHINE), path.join(dir, 'qemuarm64'));
  fs.mkdirSync(path.join(dir, 'bad name'));
  fs.mkdirSync(path.join(dir, MACHINE, 'tegrasign'));
  const root = loadKeyRoot(dir);
  t.equal(root.optee('qemuarm64').keyId, root.optee(MACHINE).keyId);
  t.equal(root.entries().length, 7);
});
