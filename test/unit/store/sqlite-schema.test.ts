// The embedded store's file format: a state directory written by the first layout (signature as
// TEXT hex) is migrated in place on open, keeping every record's status, and a file from a newer
// signerd is refused rather than misread.
import t, { type Test } from 'tap';
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DaemonError } from '../../../lib/errors.js';
import { SQLITE_FILE, openSqliteValidityStore } from '../../../lib/store/sqlite-validity-store.js';

const OPTS = { busyTimeoutMs: 2_000, synchronous: 'FULL', create: true } as const;

function stateDir(t: Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signerd-sqlite-schema-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes the version-0 layout exactly as signerd before the BLOB key created it. */
function writeVersion0(dir: string, rows: Array<[string, Buffer, number | null, number | null]>): void {
  const db = new Database(path.join(dir, SQLITE_FILE));
  db.pragma('journal_mode = WAL');
  db.exec(`CREATE TABLE signatures (signature TEXT PRIMARY KEY, message BLOB NOT NULL, key_id TEXT NOT NULL, algorithm TEXT NOT NULL,
    created_ms INTEGER NOT NULL, expires_ms INTEGER, revoked_ms INTEGER) WITHOUT ROWID`);
  const insert = db.prepare('INSERT INTO signatures VALUES (?, ?, ?, ?, ?, ?, ?)');
  for (const [sig, message, expires, revoked] of rows) insert.run(sig, message, 'rsa-key', 'rsa-pss-sha256', 1_700_000_000_000, expires, revoked);
  db.close();
}

t.test('a version-0 file is migrated on open with every status kept', async (t) => {
  const dir = stateDir(t);
  const [live, revoked, expired] = [0, 1, 2].map(() => crypto.randomBytes(512).toString('hex'));
  writeVersion0(dir, [
    [live!, Buffer.from('live message'), null, null],
    [revoked!, Buffer.from('revoked message'), null, 1_700_000_000_001],
    [expired!, Buffer.from('expired message'), 1_700_000_000_002, null],
  ]);
  // Two processes open it at once in production (sign and verify): two handles here.
  const a = openSqliteValidityStore({ stateDir: dir, ...OPTS });
  const b = openSqliteValidityStore({ stateDir: dir, ...OPTS });
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  const record = await b.getLive(live!);
  t.equal(record?.signature, live);
  t.equal(record?.message.toString(), 'live message');
  t.equal(record?.keyId, 'rsa-key');
  t.equal(record?.createdMs, 1_700_000_000_000);
  t.equal((await a.inspect(revoked!)).status, 'revoked');
  t.equal((await a.inspect(expired!)).status, 'expired');
  t.ok(await a.reinstate(revoked!, null), 'a revoked record can still be reinstated after the migration');
  t.equal((await b.getLive(revoked!))?.message.toString(), 'revoked message');

  const db = new Database(path.join(dir, SQLITE_FILE), { readonly: true });
  t.teardown(() => db.close());
  t.equal(db.pragma('user_version', { simple: true }), 1);
  t.same(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all(), [{ name: 'records' }], 'the old table is gone');
  t.equal((db.prepare('SELECT count(*) AS n FROM records').get() as { n: number }).n, 3);
});

t.test('a process that opens the store while another holds it for a migration waits, not fails', async (t) => {
  const dir = stateDir(t);
  const live = crypto.randomBytes(512).toString('hex');
  writeVersion0(dir, [[live, Buffer.from('waited for'), null, null]]);
  // Another process takes the write lock (as a migrating one does) and keeps it for 1.5 s.
  const holder = spawn(
    process.execPath,
    [
      '-e',
      `
    const Database = require('better-sqlite3');
    const db = new Database(${JSON.stringify(path.join(dir, SQLITE_FILE))});
    db.exec('BEGIN IMMEDIATE');
    process.stdout.write(Date.now() + '\\n');
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1500);
    db.exec('COMMIT');
  `,
    ],
    { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.teardown(() => holder.kill());
  // The holder says when it took the lock: timed from there, not from when this process heard of it
  // (a loaded machine can delay that by hundreds of ms), the open cannot return before the commit.
  const lockedAt = await new Promise<number>((resolve) => holder.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
  // The store's own deadline is 100 ms here; the migration waits past it for the holder.
  const store = openSqliteValidityStore({ stateDir: dir, busyTimeoutMs: 100, synchronous: 'FULL', create: true });
  t.teardown(() => store.close());
  t.ok(Date.now() - lockedAt >= 1_400, `opened ${Date.now() - lockedAt} ms after the other process took the lock (it holds it 1.5 s)`);
  t.equal((await store.getLive(live))?.message.toString(), 'waited for');
});

t.test('two daemons creating one new store at once (npm start, systemd): the later one waits, not fails', async (t) => {
  const dir = stateDir(t);
  // Another process has just created the file and holds its write lock, still in rollback-journal
  // mode: the switch to WAL fails at once with SQLITE_BUSY, whatever the busy timeout.
  const holder = spawn(
    process.execPath,
    [
      '-e',
      `
    const Database = require('better-sqlite3');
    const db = new Database(${JSON.stringify(path.join(dir, SQLITE_FILE))}, { timeout: 0 });
    db.exec('BEGIN IMMEDIATE');
    db.exec('CREATE TABLE creating (x)');
    process.stdout.write('held\\n');
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
    db.exec('COMMIT');
  `,
    ],
    { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.teardown(() => holder.kill());
  await new Promise((resolve) => holder.stdout.once('data', resolve));
  const store = openSqliteValidityStore({ stateDir: dir, ...OPTS });
  t.teardown(() => store.close());
  await store.put({ signature: 'ab', message: Buffer.from('created'), keyId: 'k', algorithm: 'a', createdMs: Date.now(), expiresMs: null });
  t.equal((await store.getLive('ab'))?.message.toString(), 'created', 'opened once the other was done, and serves');
});

t.test('an RSA-4096 record fits its B-tree cell (no overflow pages)', async (t) => {
  const dir = stateDir(t);
  const store = openSqliteValidityStore({ stateDir: dir, ...OPTS });
  for (let i = 0; i < 200; i++) {
    await store.put({
      signature: crypto.randomBytes(512).toString('hex'),
      message: Buffer.from(`m${i}`),
      keyId: 'k',
      algorithm: 'rsa-pss-sha256',
      createdMs: Date.now(),
      expiresMs: null,
    });
  }
  await store.close();
  const db = new Database(path.join(dir, SQLITE_FILE));
  t.teardown(() => db.close());
  db.pragma('wal_checkpoint(TRUNCATE)');
  // About 0.6 KB a record; the TEXT layout took about 4.7 KB (overflow pages for every key).
  const pages = db.pragma('page_count', { simple: true }) as number;
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  t.ok((pages * pageSize) / 200 < 1_500, `${((pages * pageSize) / 200).toFixed(0)} bytes a record`);
});

t.test('a file from a newer signerd is refused with a clear error', async (t) => {
  const dir = stateDir(t);
  const db = new Database(path.join(dir, SQLITE_FILE));
  db.pragma('user_version = 9');
  db.close();
  const err = (() => {
    try {
      openSqliteValidityStore({ stateDir: dir, ...OPTS });
    } catch (thrown) {
      return thrown;
    }
    return null;
  })();
  t.ok(err instanceof DaemonError);
  t.equal((err as DaemonError).code, 'CONFIG_INVALID');
  t.match((err as DaemonError).message, /schema version 9 is newer than this signerd \(1\); upgrade signerd/);
});
