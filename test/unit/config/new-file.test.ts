// writeNewFile, as every admin command that writes a key or certificate uses it: the exact mode
// whatever the umask, set on the file made (never by name), an existing file refused by name and
// left as it was, other errors as they are.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { writeNewFile } from '../../../lib/config/new-file.js';

t.test('the mode is exact, under a narrow umask too', async (t) => {
  const dir = t.testdir();
  const previous = process.umask(0o077);
  t.teardown(() => process.umask(previous));
  writeNewFile(path.join(dir, 'public.pem'), 'public', 0o644);
  writeNewFile(path.join(dir, 'secret.pem'), 'secret', 0o600);
  t.equal(fs.statSync(path.join(dir, 'public.pem')).mode & 0o777, 0o644);
  t.equal(fs.statSync(path.join(dir, 'secret.pem')).mode & 0o777, 0o600);
});

t.test('an existing file is refused by name and kept', async (t) => {
  const dir = t.testdir({ 'key.pem': 'the old key' });
  const file = path.join(dir, 'key.pem');
  t.throws(() => writeNewFile(file, 'a new key', 0o600), { code: 'CONFIG_INVALID', message: `${file} exists; refusing to overwrite it` });
  t.equal(fs.readFileSync(file, 'utf8'), 'the old key');
});

t.test('a missing directory is the path error itself', async (t) => {
  const dir = t.testdir();
  t.throws(() => writeNewFile(path.join(dir, 'nowhere', 'key.pem'), 'x', 0o600), { code: 'ENOENT' });
});

t.test('the mode goes to the file made, never to a link renamed over its name after it is written', async (t) => {
  const dir = t.testdir({ victim: 'someone else’s' });
  const victim = path.join(dir, 'victim');
  fs.chmodSync(victim, 0o600);
  const file = path.join(dir, 'public.pem');
  // The swap another user of the directory could make, run as soon as the content is written.
  const original = fs.writeFileSync;
  let swapped = false;
  fs.writeFileSync = ((...args: Parameters<typeof original>) => {
    original(...args);
    fs.symlinkSync(victim, path.join(dir, 'link'));
    fs.renameSync(path.join(dir, 'link'), file);
    swapped = true;
  }) as typeof original;
  t.teardown(() => {
    fs.writeFileSync = original;
  });
  writeNewFile(file, 'public', 0o644);
  fs.writeFileSync = original;
  t.ok(swapped, 'the link was swapped in');
  t.equal(fs.statSync(victim).mode & 0o777, 0o600, "the link's target keeps its mode");
  t.equal(fs.readFileSync(victim, 'utf8'), 'someone else’s');
});
