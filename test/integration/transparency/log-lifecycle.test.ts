// Opening, failing and reopening a log through the library: a database that lost entries or
// belongs to another tree is refused (appending would fork), another log's tiles left in the
// directory are never signed over, the checkpoint file and its record
// are brought level after a crash between them, missing tiles and stale temporary files are
// repaired, a lock held too long fails the append closed and recovers by itself, and lone appends
// (committed on the calling thread) stay durable, ordered and patient with a held lock.
import t from 'tap';
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { auditLog } from '../../../lib/transparency/log-audit.js';
import { parseVerifierKey } from '../../../lib/transparency/note-key.js';
import { readCheckpointFile } from '../../../lib/transparency/tile-publisher.js';
import { SEQUENCER_FILE, storedOrigin } from '../../../lib/transparency/sequencer-db.js';
import { openConfiguredTransparencyLog, type TransparencyLogSettings } from '../../../lib/config/transparency-log-options.js';
import type { LogEvent } from '../../../lib/transparency/log-entry.js';
import { appendRange, holdWriteLock, makeKey, openLog, ORIGIN } from './fixtures.js';
import { sleep } from '../../helpers/polling.js';
import { SIGNERD } from '../../helpers/daemon.js';

async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'none';
  } catch (err) {
    return (err as { code?: string }).code ?? 'not a DaemonError';
  }
}

t.test('a database that lost entries, or holds another tree, is refused', async (t) => {
  const dir = t.testdir();
  const { keyFile } = await makeKey(dir);
  const a = path.join(dir, 'a');
  const b = path.join(dir, 'b');
  const logA = await openLog(a, keyFile);
  await appendRange(logA, 0, 10);
  await logA.close();
  const logB = await openLog(b, keyFile);
  await appendRange(logB, 100, 112);
  await logB.close();

  fs.copyFileSync(path.join(a, 'checkpoint'), path.join(b, 'checkpoint'));
  t.equal(await failure(openLog(b, keyFile)), 'CONFIG_INVALID', "another tree's checkpoint: reopening would fork");

  fs.rmSync(path.join(a, SEQUENCER_FILE));
  t.equal(await failure(openLog(a, keyFile)), 'CONFIG_INVALID', 'the database is gone but the checkpoint says 10: starting afresh would fork');

  const { keyFile: otherKey } = await makeKey(dir, 'another.test/log');
  fs.rmSync(b, { recursive: true });
  const logC = await openLog(b, keyFile);
  await logC.close();
  t.equal(await failure(openLog(b, otherKey)), 'CONFIG_INVALID', 'a key named for another log');
});

t.test('a database file another process has only just made (no tables yet) is a new log, not a refusal', async (t) => {
  // Several daemons starting on one new log: one has created the file, the others look for its name.
  const dir = t.testdir();
  const { keyFile } = await makeKey(dir);
  const logDir = path.join(dir, 'log');
  fs.mkdirSync(logDir);
  fs.writeFileSync(path.join(logDir, SEQUENCER_FILE), '');
  t.equal(storedOrigin(logDir, 1_000), undefined, 'no name yet');
  const settings: TransparencyLogSettings = { dir: logDir, keys: [keyFile] };
  const log = await openConfiguredTransparencyLog(settings, { callMsMax: 5_000 });
  t.equal(log.origin, ORIGIN, "opened under the key's name");
  await log.close();
  t.equal(storedOrigin(logDir, 1_000), ORIGIN, 'and the database holds it now');
});

t.test("tiles already in the directory with other bytes are never published under this log's checkpoint", async (t) => {
  const dir = t.testdir();
  const { keyFile } = await makeKey(dir);
  const logDir = path.join(dir, 'log');
  const old = await openLog(logDir, keyFile);
  await appendRange(old, 0, 300);
  await old.close();
  const oldTile = fs.readFileSync(path.join(logDir, 'tile/0/000'));
  // A new log started in the same directory, its database and checkpoint gone but the tiles left.
  fs.rmSync(path.join(logDir, SEQUENCER_FILE));
  fs.rmSync(path.join(logDir, 'checkpoint'));
  const { keyFile: newKey } = await makeKey(dir, 'new.test/log');
  const fresh = await openLog(logDir, newKey);
  t.teardown(() => fresh.close());
  await appendRange(fresh, 1_000, 1_260);
  const refused = await fresh.publish().then(
    () => null,
    (err: unknown) => err as { code?: string; message?: string },
  );
  t.match(refused, { code: 'LOG_UNAVAILABLE', message: /tile\/0\/000 is already there with other bytes than this log's/ }, 'the publish stops');
  t.notOk(fs.existsSync(path.join(logDir, 'checkpoint')), 'no checkpoint signs over the other log');
  t.same(fs.readFileSync(path.join(logDir, 'tile/0/000')), oldTile, 'and the old tile is left as it was');
});

t.test('the checkpoint file and its record are brought level after a crash between them', async (t) => {
  const dir = t.testdir();
  const { keyFile, vkey } = await makeKey(dir);
  const logDir = path.join(dir, 'log');
  const log = await openLog(logDir, keyFile);
  await appendRange(log, 0, 10);
  const note10 = (await log.publish())!.note;
  await appendRange(log, 10, 15);
  const note15 = (await log.publish())!.note;
  await log.close();

  // Crash after the rename, before the record's commit: the file is ahead of the record.
  const db = new Database(path.join(logDir, SEQUENCER_FILE));
  db.prepare("UPDATE meta SET value = ? WHERE key = 'published_note'").run(note10);
  db.prepare("UPDATE meta SET value = '10' WHERE key = 'published_size'").run();
  db.close();
  let reopened = await openLog(logDir, keyFile);
  t.equal((await reopened.publish())!.size, 15, 'the file ahead of its record is taken (its tree is in the database)');
  await reopened.close();

  // A checkpoint file put back from an old backup: behind the record, rewritten.
  fs.writeFileSync(path.join(logDir, 'checkpoint'), note10);
  reopened = await openLog(logDir, keyFile);
  await reopened.close();
  t.equal(fs.readFileSync(path.join(logDir, 'checkpoint'), 'utf8'), note15, 'the older file is replaced by the recorded checkpoint');
  t.same(auditLog(logDir, parseVerifierKey(vkey)).problems, [], 'audit passes');
});

t.test('missing tiles and stale temporary files are repaired at open', async (t) => {
  const dir = t.testdir();
  const { keyFile, vkey } = await makeKey(dir);
  const logDir = path.join(dir, 'log');
  const log = await openLog(logDir, keyFile);
  await appendRange(log, 0, 300);
  await log.close();
  fs.rmSync(path.join(logDir, 'tile/0/000'));
  fs.rmSync(path.join(logDir, 'tile/entries/001.p'), { recursive: true });
  t.not(auditLog(logDir, parseVerifierKey(vkey)).problems.length, 0, 'the damage shows in the audit');

  const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
  const stale = [path.join(logDir, `checkpoint.tmp-${dead}-0badc0de`), path.join(logDir, `tile/0/001.p/44.tmp-${dead}-0badc0de`)];
  const live = path.join(logDir, `checkpoint.tmp-${process.pid}-0badc0de`);
  for (const file of [...stale, live]) fs.writeFileSync(file, 'half a file');

  const reopened = await openLog(logDir, keyFile);
  await reopened.close();
  t.same(auditLog(logDir, parseVerifierKey(vkey)).problems, [], 'the tiles are back and the audit passes');
  t.same(
    stale.filter((f) => fs.existsSync(f)),
    [],
    "a dead writer's temporary files are removed",
  );
  t.ok(fs.existsSync(live), "a live process's temporary file is left alone");
});

t.test('a symbolic link in the tile tree is refused, never written or removed through (secrets probe)', async (t) => {
  // The log directory is the service user's; an admin command run as root writing through a link it
  // placed (tile/entries/000.p → elsewhere) would make root-owned files where that user chose.
  const dir = t.testdir();
  const { keyFile } = await makeKey(dir);
  const logDir = path.join(dir, 'log');
  const log = await openLog(logDir, keyFile);
  await appendRange(log, 0, 3);
  await log.publish();
  const partial = path.join(logDir, 'tile/entries/000.p');
  const elsewhere = path.join(dir, 'elsewhere');
  const swap = (): void => {
    fs.rmSync(elsewhere, { recursive: true, force: true });
    fs.cpSync(partial, elsewhere, { recursive: true });
    fs.rmSync(partial, { recursive: true });
    fs.symlinkSync(elsewhere, partial);
  };
  // Placed while the log is open: the next publish writes there.
  swap();
  await appendRange(log, 3, 4);
  const refused = await log.publish().then(
    () => null,
    (err: unknown) => err as { code?: string; message?: string },
  );
  t.match(refused, { code: 'LOG_UNAVAILABLE', message: /tile\/entries\/000\.p is a symbolic link/ }, 'the publish is refused, naming the link');
  t.same(fs.readdirSync(elsewhere), ['3'], 'nothing was written where the link leads');
  await log.close().catch(() => undefined);
  // Placed while it was closed: opening (which repairs tiles and sweeps temporaries there) refuses.
  fs.rmSync(partial);
  fs.cpSync(elsewhere, partial, { recursive: true });
  swap();
  const reopened = await openLog(logDir, keyFile).then(
    (l) => l.close().then(() => null),
    (err: unknown) => err as { code?: string; message?: string },
  );
  t.match(reopened, { code: 'LOG_UNAVAILABLE', message: /tile\/entries\/000\.p is a symbolic link/ }, 'the open is refused');
  t.same(fs.readdirSync(elsewhere), ['3'], 'and nothing was written there either');
  // A link higher up (tile/entries itself) is refused the same way.
  fs.rmSync(partial);
  fs.cpSync(elsewhere, partial, { recursive: true });
  const entries = path.join(logDir, 'tile/entries');
  fs.renameSync(entries, path.join(dir, 'entries-elsewhere'));
  fs.symlinkSync(path.join(dir, 'entries-elsewhere'), entries);
  const higher = await openLog(logDir, keyFile).then(
    (l) => l.close().then(() => null),
    (err: unknown) => err as { code?: string; message?: string },
  );
  t.match(higher, { code: 'LOG_UNAVAILABLE', message: /tile\/entries is a symbolic link/ }, 'a linked tile/entries too');
});

t.test('a copy of a growing log (its checkpoint first, then its tiles) audits clean; newer files must agree where they overlap', async (t) => {
  const dir = t.testdir();
  const { keyFile, vkey } = await makeKey(dir);
  const logDir = path.join(dir, 'log');
  const log = await openLog(logDir, keyFile);
  await appendRange(log, 0, 300);
  const old = (await log.publish())!;
  // The log goes on while the copy is made: the last tile and bundle widen, and fill up.
  await appendRange(log, 300, 520);
  await log.publish();
  await log.close();
  const copy = path.join(dir, 'copy');
  fs.mkdirSync(copy);
  fs.writeFileSync(path.join(copy, 'checkpoint'), old.note);
  fs.cpSync(path.join(logDir, 'tile'), path.join(copy, 'tile'), { recursive: true });

  const key = parseVerifierKey(vkey);
  const report = auditLog(copy, key);
  t.same(report.problems, [], 'the audit of the older checkpoint passes');
  t.equal(report.entries, 300);
  t.ok(report.newerFiles >= 2, `files newer than the checkpoint are counted (${report.newerFiles}): the full tile and bundle 001`);

  const audit = spawnSync(process.execPath, [SIGNERD, 'log', 'audit', copy, '--log-key', vkey], { encoding: 'utf8' });
  t.equal(audit.status, 0, audit.stderr);
  t.match(audit.stdout, /^newer {6}\d+ files published after this checkpoint: checked where they overlap it$/m);

  const flip = (file: string, at: number): void => {
    const bytes = fs.readFileSync(file);
    bytes.writeUInt8(bytes.readUInt8(at) ^ 1, at);
    fs.writeFileSync(file, bytes);
  };
  // A newer tile whose overlap with the checkpoint's tree differs: a fork, whatever comes after it.
  flip(path.join(copy, 'tile/0/001'), 32 * 10);
  t.same(auditLog(copy, key).problems, ["tile/0/001: its first 44 hashes differ from the checkpoint's"]);
  flip(path.join(copy, 'tile/0/001'), 32 * 10);
  // Past the overlap it is a later tree's business: this checkpoint does not cover it.
  flip(path.join(copy, 'tile/0/001'), 32 * 200);
  t.same(auditLog(copy, key).problems, [], 'a difference beyond the checkpoint is not judged by it');
  // The full bundle stands in for the removed partial: its first 44 entries are the checkpoint's.
  flip(path.join(copy, 'tile/entries/001'), 10);
  t.match(auditLog(copy, key).problems.join('\n'), /the checkpoint's root hash at size 300 is not the root of the entries/);
});

t.test('a checkpoint-size partial gone with only a wider partial in its place fails the audit: only a full tile stands in', async (t) => {
  const dir = t.testdir();
  const { keyFile, vkey } = await makeKey(dir);
  const logDir = path.join(dir, 'log');
  const log = await openLog(logDir, keyFile);
  await appendRange(log, 0, 11);
  await log.publish();
  const copy = path.join(dir, 'copy');
  fs.mkdirSync(copy);
  fs.copyFileSync(path.join(logDir, 'checkpoint'), path.join(copy, 'checkpoint'));
  fs.cpSync(path.join(logDir, 'tile'), path.join(copy, 'tile'), { recursive: true });
  await appendRange(log, 11, 21);
  await log.publish();
  await log.close();
  for (const partial of ['tile/0/000.p/21', 'tile/entries/000.p/21']) fs.copyFileSync(path.join(logDir, partial), path.join(copy, partial));

  const key = parseVerifierKey(vkey);
  t.same(auditLog(copy, key).problems, [], 'with both partials, the copy of size 11 audits clean');
  // A state no live log is ever in (partials go only once the full tile exists): Go's TileHashReader
  // and `signerd log mirror` ask for 000.p/11, then the full 000, and cannot read this tree.
  fs.rmSync(path.join(copy, 'tile/0/000.p/11'));
  fs.rmSync(path.join(copy, 'tile/entries/000.p/11'));
  t.same(auditLog(copy, key).problems, [
    'tile/entries/000.p/11: missing (a wider partial does not stand in for it; only the full bundle does)',
    'tile/0/000.p/11: missing (a wider partial does not stand in for it; only the full tile does)',
  ]);
  const audit = spawnSync(process.execPath, [SIGNERD, 'log', 'audit', copy, '--log-key', vkey], { encoding: 'utf8' });
  t.equal(audit.status, 1, 'signerd log audit says no');
  t.match(audit.stderr, /^problem: tile\/0\/000\.p\/11: missing/m, 'naming the missing tile');
  t.match(audit.stderr, /^problem: tile\/entries\/000\.p\/11: missing/m, 'and the missing bundle');
  t.match(audit.stdout, /audit FAILED: 2 problem\(s\)/);
});

t.test('a write lock held too long fails appends closed, and the log recovers by itself', async (t) => {
  const dir = t.testdir();
  const { keyFile } = await makeKey(dir);
  const logDir = path.join(dir, 'log');
  const log = await openLog(logDir, keyFile, 60_000, { lockWaitMsMax: 200, appendMsMax: 2_000 });
  t.teardown(() => log.close());
  await appendRange(log, 0, 3);

  const lock = holdWriteLock(t, logDir);
  const started = Date.now();
  t.equal(await failure(appendRange(log, 3, 4)), 'LOG_UNAVAILABLE', 'the append is refused, not acknowledged');
  t.ok(Date.now() - started < 1_500, `within the lock wait bound (${Date.now() - started} ms)`);
  lock.release();
  t.same(await appendRange(log, 4, 6), [3, 4], 'appends resume once the lock is free; no index was used up');
});

t.test('an append the writer cannot commit in time is refused naming its whole budget', async (t) => {
  const dir = t.testdir();
  const { keyFile } = await makeKey(dir);
  const logDir = path.join(dir, 'log');
  // The writer may wait long for the lock; the append's own deadline is what ends it.
  const log = await openLog(logDir, keyFile, 60_000, { lockWaitMsMax: 5_000, appendMsMax: 300 });
  t.teardown(() => log.close());
  await appendRange(log, 0, 1);
  const lock = holdWriteLock(t, logDir);
  const refused = (await appendRange(log, 1, 2).catch((err: unknown) => err)) as { code?: string; message?: string };
  lock.release();
  t.match(refused, { code: 'LOG_UNAVAILABLE', message: 'the transparency log did not commit within 300 ms' });
});

t.test('lone appends (committed on the calling thread) are durable and in order, and wait for a held lock', async (t) => {
  const dir = t.testdir();
  const { keyFile } = await makeKey(dir);
  const logDir = path.join(dir, 'log');
  const log = await openLog(logDir, keyFile, 60_000, { lockWaitMsMax: 3_000, appendMsMax: 5_000 });
  t.teardown(() => log.close());
  const pause = (): Promise<void> => sleep(5); // a gap, so that the next append is a lone one
  const lone: number[] = [];
  for (let i = 0; i < 3; i++) {
    await pause();
    lone.push(...(await appendRange(log, i, i + 1)));
  }
  t.same(lone, [0, 1, 2], 'one at a time, each in its own commit');
  t.same(await appendRange(log, 3, 6), [3, 4, 5], 'a batch after them goes on from there');
  const reader = new Database(path.join(logDir, SEQUENCER_FILE), { readonly: true });
  t.equal(reader.prepare('SELECT count(*) FROM entries').pluck().get(), 6, 'every acknowledged entry is committed');
  reader.close();

  // Another process holds the write lock: a lone append is not refused at once (it goes to the
  // writer thread, which waits for the lock) and commits once the lock is free.
  const lock = holdWriteLock(t, logDir);
  await pause();
  const waiting = appendRange(log, 6, 7);
  await sleep(200);
  lock.release();
  t.same(await waiting, [6], 'committed after the lock was released');
  await pause();
  t.same(await appendRange(log, 7, 8), [7], 'and the next lone append is committed here again');
});

t.test('a publish asked for while another runs covers what became durable meanwhile', async (t) => {
  const dir = t.testdir();
  const { keyFile } = await makeKey(dir);
  const log = await openLog(path.join(dir, 'log'), keyFile);
  t.teardown(() => log.close());
  await appendRange(log, 0, 3);
  const first = log.publish();
  await appendRange(log, 3, 5);
  const second = await log.publish();
  t.equal((await first)!.size, 3, 'the first publish read the head before the appends');
  t.equal(second!.size, 5, 'the second covers them (it is not the first one handed back)');
});

t.test('a process opening the log while another appends and publishes starts fine', async (t) => {
  const dir = t.testdir();
  const { keyFile } = await makeKey(dir);
  const logDir = path.join(dir, 'log');
  const busy = await openLog(logDir, keyFile);
  let running = true;
  let appended = 0;
  // Another daemon at full speed: appends, each followed by a checkpoint.
  const load = (async () => {
    while (running) {
      await appendRange(busy, appended, appended + 4);
      appended += 4;
      await busy.publish();
    }
  })();
  const opened: string[] = [];
  for (let i = 0; i < 8; i++) {
    const other = await openLog(logDir, keyFile).then(
      (l) => l,
      (e: { code?: string }) => e.code ?? 'error',
    );
    if (typeof other === 'string') opened.push(other);
    else {
      opened.push('ok');
      await other.close();
    }
  }
  running = false;
  await load;
  await busy.close();
  t.same(
    opened,
    opened.map(() => 'ok'),
    `8 opens during ${appended} appends and as many checkpoints`,
  );
});

t.test('malformed events and appends after close', async (t) => {
  const dir = t.testdir();
  const { keyFile } = await makeKey(dir);
  const log = await openLog(path.join(dir, 'log'), keyFile);
  t.equal(await failure(log.append({ kind: 'sign', source: 'x' } as unknown as LogEvent)), 'BAD_REQUEST', 'a sign event without its fields');
  await log.close();
  t.equal(await failure(log.append({ kind: 'revoke', source: 'admin', signature: Buffer.from('ab', 'hex') })), 'SHUTTING_DOWN', 'after close');
  t.equal(readCheckpointFile(path.join(dir, 'log')), null, 'an empty log publishes no checkpoint');
});
