// A SQLite store whose file was removed under it says so in the client's one-line reply, whatever the
// depth of its state directory: the file's name and what happened come first, the whole path last
// (a reply is cut at 300 characters; CI's checkout paths are long).
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DaemonError } from '../../../lib/errors.js';
import { formatErrorLine } from '../../../lib/protocol/reply-format.js';
import { SQLITE_FILE, openSqliteValidityStore } from '../../../lib/store/sqlite-validity-store.js';

t.test('a removed database under a 400-character path', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'signerd-file-moved-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const deep = path.join(root, ...Array.from({ length: 8 }, (_, i) => `${'d'.repeat(48)}${i}`));
  fs.mkdirSync(deep, { recursive: true });
  const store = openSqliteValidityStore({ stateDir: deep, busyTimeoutMs: 2_000, synchronous: 'FULL', create: true });
  t.teardown(() => store.close());
  await store.getLive('00'.repeat(32));
  fs.renameSync(path.join(deep, SQLITE_FILE), path.join(root, 'moved.sqlite'));
  const err = await store.getLive('00'.repeat(32)).then(
    () => null,
    (e: unknown) => e,
  );
  t.type(err, DaemonError);
  const line = formatErrorLine(err as DaemonError, 'seed');
  t.match(line, /^ERR STORE_UNAVAILABLE sqlite read: validity\.sqlite was removed while this process had it open; /, 'the fact first');
  t.ok((err as DaemonError).message.endsWith(path.join(deep, SQLITE_FILE)), 'the whole path last, in the message the log keeps');
});
