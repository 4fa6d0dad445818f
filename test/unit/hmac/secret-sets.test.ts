// Loading the secret modes: size, permission and name checks at load time (never per request),
// the seed's key offsets, mode32's padded/unpadded names, and the atomic SIGHUP swap.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { openSecretSet } from '../../../daemons/hmac/open-secret-set.js';
import type { SecretSettings } from '../../../daemons/hmac/secret-set.js';
import { MODE32_FILES_OPEN_MAX, scanTableNames } from '../../../daemons/hmac/mode32-files.js';
import { murmur3x86_32 } from '../../../daemons/hmac/murmur3.js';
import { createSecretHolder } from '../../../daemons/hmac/secret-holder.js';
import { parseMode, tableFileName } from '../../../daemons/hmac/secret-set.js';
import { derivedDir, mode16Dir, mode32Dir, singleDir, tableKey, writeSecret } from './secret-fixtures.js';
import { until } from '../../helpers/polling.js';

const base = t.testdir();
let n = 0;
const fresh = (): string => path.join(base, `d${++n}`);
const settings = (mode: SecretSettings['mode'], dir: string, extra: Partial<SecretSettings> = {}): SecretSettings => ({
  mode,
  dir,
  mode32Files: 'all',
  keyVersion: null,
  acceptVersions: null,
  readMsMax: 1000,
  ...extra,
});
const hmac = (key: Buffer, data: Buffer): Buffer => crypto.createHmac('sha256', key).update(data).digest();
const tableName = (index: number): string => tableFileName(index >>> 16);

t.test('mode names', async (t) => {
  t.equal(parseMode('MODE0'), 'single');
  t.equal(parseMode('Mode32'), 'mode32', "the seed README's spelling works (the seed silently ran Mode0)");
  t.equal(parseMode('derived'), 'derived');
  t.throws(() => parseMode('mode64'), { code: 'CONFIG_INVALID' });
});

t.test('single and mode16 use the seed keys', async (t) => {
  const data = Buffer.from('hello world');
  const single = singleDir(fresh());
  const set1 = openSecretSet(settings('single', single));
  t.same(await set1.mac(data, murmur3x86_32(data), 0), hmac(fs.readFileSync(path.join(single, 'secret')), data));
  const m16 = mode16Dir(fresh());
  const set16 = openSecretSet(settings('mode16', m16));
  t.same(await set16.mac(data, 0xbd3364dc, 0), hmac(tableKey(path.join(m16, '0000'), 25820), data), 'offset 826240 of 0000');
});

t.test('load-time refusals', async (t) => {
  const short = fresh();
  writeSecret(path.join(short, 'secret'), crypto.randomBytes(31));
  t.throws(() => openSecretSet(settings('single', short)), { code: 'KEY_LOAD_FAILED', message: /exactly 32 bytes, found 31/ });
  const zero = fresh();
  writeSecret(path.join(zero, 'secret'), Buffer.alloc(32));
  t.throws(() => openSecretSet(settings('single', zero)), { code: 'KEY_LOAD_FAILED', message: /all bytes are zero/ });
  const loose = singleDir(fresh());
  fs.chmodSync(path.join(loose, 'secret'), 0o640);
  t.throws(() => openSecretSet(settings('single', loose)), { code: 'KEY_FILE_INSECURE' });
  t.throws(() => openSecretSet(settings('single', fresh())), { code: 'KEY_LOAD_FAILED', message: /ENOENT/ });
  const table = fresh();
  writeSecret(path.join(table, '0000'), crypto.randomBytes(1000));
  t.throws(() => openSecretSet(settings('mode16', table)), { code: 'KEY_LOAD_FAILED', message: /2097152/ });
  // A placeholder table (`truncate -s 2097152`), or one whose keys include an all-zero one: a tag
  // under the zero key is one anybody can make, and the index of a message is public.
  const zeroTable = fresh();
  const holed = crypto.randomBytes(2_097_152);
  holed.fill(0, 0xbd33 * 32, 0xbd33 * 32 + 32);
  writeSecret(path.join(zeroTable, '0000'), holed);
  t.throws(() => openSecretSet(settings('mode16', zeroTable)), { code: 'KEY_LOAD_FAILED', message: /key bd33 is all zero bytes/ });
  const m32 = mode32Dir(fresh(), ['bd33']);
  fs.chmodSync(path.join(m32, 'bd33'), 0o604);
  t.throws(() => openSecretSet(settings('mode32', m32, { mode32Files: 'present' })), { code: 'KEY_FILE_INSECURE' });
  const m32short = fresh();
  writeSecret(path.join(m32short, 'bd33'), crypto.randomBytes(64));
  t.throws(() => openSecretSet(settings('mode32', m32short, { mode32Files: 'present' })), { code: 'KEY_LOAD_FAILED', message: /expected exactly 2097152/ });
  t.throws(() => openSecretSet(settings('derived', fresh())), { code: 'KEY_LOAD_FAILED' });
});

t.test('mode32: a key read as all zero bytes is refused at the request, never used', async (t) => {
  const dir = fresh();
  writeSecret(path.join(dir, 'bd33'), Buffer.alloc(2_097_152));
  const set = openSecretSet(settings('mode32', dir, { mode32Files: 'present' }));
  t.teardown(() => set.dispose());
  await t.rejects(
    Promise.resolve().then(() => set.mac(Buffer.from('x'), 0xbd3364dc, 0)),
    { code: 'BACKEND_UNAVAILABLE', message: /all-zero key/ },
  );
});

t.test("mode32 files: a FIFO is refused at once, another user's file is refused, the probe uses an installed file", async (t) => {
  const withFifo = mode32Dir(fresh(), ['bd33']);
  execFileSync('mkfifo', ['-m', '600', path.join(withFifo, '1234')]);
  t.throws(
    () => openSecretSet(settings('mode32', withFifo, { mode32Files: 'present' })),
    { code: 'KEY_LOAD_FAILED', message: /1234: not a regular file/ },
    'never waited on',
  );
  if (process.getuid?.() === 0) {
    const foreign = mode32Dir(fresh(), ['bd33']);
    fs.chownSync(path.join(foreign, 'bd33'), 65534, 65534);
    t.throws(() => openSecretSet(settings('mode32', foreign, { mode32Files: 'present' })), { code: 'KEY_FILE_INSECURE', message: /owned by uid 65534/ });
  }
  const present = openSecretSet(settings('mode32', mode32Dir(fresh(), ['bd33']), { mode32Files: 'present' }));
  t.teardown(() => present.dispose());
  t.equal(present.probeIndex, 0xbd33 << 16, 'the readiness probe asks for a key of bd33, not of the missing 0000');
  t.equal((await present.mac(Buffer.from('x'), present.probeIndex!, present.versions[0]!)).length, 32);
});

t.test('a secret file of the wrong size is refused before it is read', async (t) => {
  const dir = fresh();
  fs.mkdirSync(dir, { mode: 0o700 });
  const file = path.join(dir, '0000');
  fs.writeFileSync(file, '', { mode: 0o600 });
  fs.truncateSync(file, 1024 * 1024 * 1024);
  const before = process.memoryUsage().rss;
  t.throws(() => openSecretSet(settings('mode16', dir)), { code: 'KEY_LOAD_FAILED', message: /expected exactly 2097152 bytes, found 1073741824/ });
  t.ok(process.memoryUsage().rss - before < 256 * 1024 * 1024, 'a 1 GiB file is not loaded into memory to be refused');
});

t.test('mode32 names: padded and unpadded, conflicts, others ignored', async (t) => {
  const files = scanTableNames(['0000', 'a3f', 'bd33', 'secret', 'master-v1', 'ABCD', '00a3', '12345', '0x12']);
  t.same(
    [...files.entries()].sort((a, b) => a[0] - b[0]),
    [
      [0, '0000'],
      [0xa3, '00a3'],
      [0xa3f, 'a3f'],
      [0xbd33, 'bd33'],
    ],
  );
  t.throws(() => scanTableNames(['0a3f', 'a3f']), { code: 'CONFIG_INVALID', message: /both/ });
  t.throws(() => scanTableNames(['0000', '0']), { code: 'CONFIG_INVALID', message: /both/ });
});

t.test('mode32: all files required by default; present serves a subset', async (t) => {
  const dir = mode32Dir(fresh(), ['bd33', 'a3f', '0a40']);
  t.throws(() => openSecretSet(settings('mode32', dir)), { code: 'KEY_LOAD_FAILED', message: /65533 of 65536 secret files are missing .*first: 0000, 0001/ });
  const set = openSecretSet(settings('mode32', dir, { mode32Files: 'present' }));
  t.teardown(() => set.dispose());
  const data = Buffer.from('hello world');
  t.same(await set.mac(data, 0xbd3364dc, 0), hmac(tableKey(path.join(dir, 'bd33'), 25820), data));
  t.same(await set.mac(data, 0x0a3f0001, 0), hmac(tableKey(path.join(dir, 'a3f'), 1), data), 'unpadded name (the seed)');
  t.same(await set.mac(data, 0x0a40ffff, 0), hmac(tableKey(path.join(dir, '0a40'), 0xffff), data), 'padded name (the README), last key');
  await t.rejects(
    Promise.resolve().then(() => set.mac(data, 0x12340000, 0)),
    { code: 'BACKEND_UNAVAILABLE', message: /1234 is not installed/ },
  );
  // A file truncated after start-up fails closed (503), it never yields a tag from a short key.
  fs.truncateSync(path.join(dir, 'bd33'), 100);
  await t.rejects(
    Promise.resolve().then(() => set.mac(data, 0xbd3364dc, 0)),
    { code: 'BACKEND_UNAVAILABLE' },
  );
});

t.test('mode32: a file replaced or removed after loading fails closed until the set is loaded again', async (t) => {
  const dir = mode32Dir(fresh(), ['bd33', 'bfa8']);
  const set = openSecretSet(settings('mode32', dir, { mode32Files: 'present' }));
  const data = Buffer.from('hello world');
  const replacement = path.join(dir, 'bd33.new');
  writeSecret(replacement, crypto.randomBytes(32 * 65_536));
  fs.renameSync(replacement, path.join(dir, 'bd33'));
  await t.rejects(
    Promise.resolve().then(() => set.mac(data, 0xbd3364dc, 0)),
    { code: 'BACKEND_UNAVAILABLE', message: /bd33 changed since it was checked/ },
    'replaced by rename: not the file that was checked',
  );
  fs.unlinkSync(path.join(dir, 'bfa8'));
  await t.rejects(
    Promise.resolve().then(() => set.mac(data, 0xbfa80ff6, 0)),
    { code: 'BACKEND_UNAVAILABLE', message: /bfa8 cannot be opened \(ENOENT\)/ },
    'removed',
  );
  set.dispose();
  const reloaded = openSecretSet(settings('mode32', dir, { mode32Files: 'present' }));
  t.teardown(() => reloaded.dispose());
  t.same(await reloaded.mac(data, 0xbd3364dc, 0), hmac(tableKey(path.join(dir, 'bd33'), 25820), data), 'the new file serves once loaded (SIGHUP)');

  // A whole new set behind a symlinked --secret-dir: the old set serves until it is loaded.
  const [v1, v2, link] = [mode32Dir(fresh(), ['bd33']), mode32Dir(fresh(), ['bd33']), path.join(fresh(), 'current')];
  fs.mkdirSync(path.dirname(link), { mode: 0o700 });
  fs.symlinkSync(v1, link);
  const before = openSecretSet(settings('mode32', link, { mode32Files: 'present' }));
  t.teardown(() => before.dispose());
  fs.symlinkSync(v2, `${link}.next`);
  fs.renameSync(`${link}.next`, link);
  t.same(await before.mac(data, 0xbd3364dc, 0), hmac(tableKey(path.join(v1, 'bd33'), 25820), data), 'the loaded set, after the symlink moved');
  const after = openSecretSet(settings('mode32', link, { mode32Files: 'present' }));
  t.teardown(() => after.dispose());
  t.same(await after.mac(data, 0xbd3364dc, 0), hmac(tableKey(path.join(v2, 'bd33'), 25820), data), 'the new set once loaded');
});

t.test('mode32: reads beyond the open-file bound wait their turn; a missed deadline gives its turn back', async (t) => {
  const names = ['0000', '7fff', 'ffff'];
  const dir = mode32Dir(fresh(), names);
  const keys = names.map((name) => fs.readFileSync(path.join(dir, name)));
  const data = Buffer.from('m');
  const indexes = Array.from({ length: 2000 }, (_, i) => (parseInt(names[i % 3]!, 16) << 16) | ((i * 7919) & 0xffff));
  const expected = (index: number): Buffer => {
    const offset = (index & 0xffff) * 32;
    return hmac(keys[names.indexOf(tableName(index))]!.subarray(offset, offset + 32), data);
  };
  // Only descriptors on the set's files: other tests in this process open and close their own.
  const realDir = fs.realpathSync(dir);
  const openFds = (): number =>
    fs.readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith(`${realDir}/`);
      } catch {
        return false; // closed since the listing
      }
    }).length;
  const idle = openFds();

  const set = openSecretSet(settings('mode32', dir, { mode32Files: 'present', readMsMax: 10_000 }));
  t.teardown(() => set.dispose());
  let peak = idle;
  const sampler = setInterval(() => (peak = Math.max(peak, openFds())), 1);
  const tags = await Promise.all(indexes.map((index) => set.mac(data, index, 0)));
  clearInterval(sampler);
  t.ok(
    tags.every((tag, i) => tag.equals(expected(indexes[i]!))),
    '2000 reads at once, every tag right',
  );
  t.ok(peak <= idle + MODE32_FILES_OPEN_MAX, `at most ${MODE32_FILES_OPEN_MAX} files open (sampled peak ${peak - idle} above idle)`);

  const hurried = openSecretSet(settings('mode32', dir, { mode32Files: 'present', readMsMax: 20 }));
  t.teardown(() => hurried.dispose());
  const outcomes = await Promise.allSettled(indexes.map((index) => Promise.resolve().then(() => hurried.mac(data, index, 0))));
  const timedOut = outcomes.filter((o) => o.status === 'rejected' && (o.reason as { code?: string }).code === 'BACKEND_TIMEOUT').length;
  t.ok(timedOut > 0, `${timedOut} of 2000 missed the 20 ms deadline`);
  t.ok(
    outcomes.every((o, i) => (o.status === 'fulfilled' ? o.value.equals(expected(indexes[i]!)) : (o.reason as { code?: string }).code === 'BACKEND_TIMEOUT')),
    'every other outcome is the right tag',
  );
  await until(() => openFds() <= idle, 5_000, 10);
  t.equal(openFds(), idle, 'late reads close their files when they return');
  // Every turn came back: a lone read gets its file at once (a few tries, for a loaded machine).
  let served: Buffer | null = null;
  for (let i = 0; i < 20 && !served; i++) served = await Promise.resolve(hurried.mac(data, indexes[0]!, 0)).catch(() => null);
  t.same(served, expected(indexes[0]!), 'and the set still serves');
});

t.test('derived: versions, and keys differ per index and version', async (t) => {
  const dir = derivedDir(fresh(), [1, 2]);
  const set = openSecretSet(settings('derived', dir));
  t.same(set.versions, [2, 1]);
  const data = Buffer.from('x');
  const a = await set.mac(data, 1, 1);
  t.not((await set.mac(data, 2, 1)).toString('hex'), a.toString('hex'));
  t.not((await set.mac(data, 1, 2)).toString('hex'), a.toString('hex'));
  t.same(openSecretSet(settings('derived', dir, { keyVersion: 1, acceptVersions: [] })).versions, [1]);
  t.throws(() => openSecretSet(settings('derived', dir, { keyVersion: 3 })), { code: 'KEY_LOAD_FAILED', message: /master-v3/ });
});

t.test('holder: a failed reload keeps the old set; a good one swaps atomically', async (t) => {
  const dir = singleDir(fresh());
  const file = path.join(dir, 'secret');
  const holder = createSecretHolder(() => openSecretSet(settings('single', dir)));
  const data = Buffer.from('m');
  const before = await holder.current().mac(data, 0, 0);
  fs.writeFileSync(file, crypto.randomBytes(16));
  t.throws(() => holder.reload(), { code: 'KEY_LOAD_FAILED' });
  t.same(await holder.current().mac(data, 0, 0), before, 'old secret still serves');
  const next = crypto.randomBytes(32);
  fs.writeFileSync(file, next);
  const old = holder.current();
  holder.reload();
  t.same(await holder.current().mac(data, 0, 0), hmac(next, data));
  t.throws(() => old.mac(data, 0, 0), { code: 'BACKEND_UNAVAILABLE' }, 'a replaced set refuses work');
  holder.dispose();
});
