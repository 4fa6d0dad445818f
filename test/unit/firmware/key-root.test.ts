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

t.test('a key directory writable by group or others is refused: it could have two machines swapped', async (t) => {
  const dir = copyKeyRoot(t.testdir({}));
  for (const loose of [dir, path.join(dir, MACHINE), path.join(dir, MACHINE, 'kmodsign')]) {
    fs.chmodSync(loose, 0o777);
    const failure = await openKeyRoot(dir, { callMsMax: 5_000 }).then(
      () => null,
      (err: unknown) => err as { code?: string; message?: string },
    );
    t.match(
      failure,
      { code: 'KEY_FILE_INSECURE', message: /has mode 0777; it must not be writable by group or others \(chmod go-w / },
      path.relative(dir, loose) || 'the key root',
    );
    fs.chmodSync(loose, 0o755);
  }
  t.ok(await openKeyRoot(dir, { callMsMax: 5_000 }), 'readable by all (0755) is fine');
});
