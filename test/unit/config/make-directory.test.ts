// makeDirectory as `mkdir -p`: relative paths, what it reports as made, a file in the way, and a
// path no directory can be made in (under /proc, where Node's recursive mkdir spins for ever).
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { makeDirectory } from '../../../lib/config/make-directory.js';
import { directorySync } from '../../../lib/transparency/durable-file.js';

t.test('relative paths, the first directory made, and a second call', async (t) => {
  const dir = t.testdir({ file: 'x' });
  const cwd = process.cwd();
  process.chdir(dir);
  t.teardown(() => process.chdir(cwd));
  t.equal(makeDirectory('a/b/c', 0o700), path.join(fs.realpathSync(dir), 'a'), 'the first made, absolute');
  t.ok(fs.statSync('a/b/c').isDirectory());
  t.equal(fs.statSync('a/b').mode & 0o777, 0o700);
  t.equal(makeDirectory('a/b/c', 0o700), undefined, 'nothing missing: nothing made');
  t.throws(() => makeDirectory('file', 0o700), { code: 'ENOTDIR' }, 'a file where the directory should be');
  t.throws(() => makeDirectory('file/sub', 0o700), { code: 'ENOTDIR' }, 'a file on the way');
  // The transparency log's publisher makes its tile folders through it, from a relative log directory too.
  const sync = directorySync();
  sync.ensure('log/tile/0');
  t.ok(fs.statSync('log/tile/0').isDirectory(), 'durable-file ensure() with a relative path returns');
  sync.flush();
});

t.test('a path no directory can be made in fails at once', async (t) => {
  t.throws(() => makeDirectory('/proc/signerd-nowhere/state', 0o700), { code: 'ENOENT' });
});
