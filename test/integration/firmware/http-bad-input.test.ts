// Hostile and careless clients of the firmware HTTP front end: vendor endpoints, wrong methods,
// corrupt and traversing tarballs, wrong field types, oversize uploads and files, gzip bombs, a full house.
// Each gets its status; the daemon keeps serving and its temp dir stays empty.
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';
import { needTools } from '../../helpers/tools.js';
import { stalledUpload } from './build-clients.js';
import { MACHINE, curlPost, leftovers, run, startFirmwareDaemon } from './http-fixtures.js';
import { retryUntil } from '../../helpers/polling.js';

/** The status, the body and the error code header (empty on success) of one curl call. */
function curlStatus(args: string[]): { status: number; body: string; code: string; allow: string } {
  const r = run('curl', ['--silent', '-w', '\n%{http_code} %header{x-signerd-error-code} %header{allow}', ...args]);
  const text = r.stdout.toString();
  const nl = text.lastIndexOf('\n');
  const [status = '0', code = '', ...allow] = text.slice(nl + 1).split(' ');
  return { status: Number(status), body: text.slice(0, nl), code, allow: allow.join(' ') };
}

/** Sends headers and the start of a body, then nothing; resolves with whatever comes back before the close. */
function stalledUploadReply(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let reply = '';
    socket.on('error', () => {});
    socket.on('data', (d: Buffer) => {
      reply += d.toString('latin1');
      if (reply.startsWith('HTTP/1.1 503')) socket.destroy();
    });
    socket.once('close', () => resolve(reply));
    socket.write(`POST /sign/modules HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XX\r\nContent-Length: 60000\r\n\r\n--XX\r\n`);
  });
}

t.test('bad input gets its status; nothing is left behind', needTools('curl', 'tar', 'python3'), async (t) => {
  const http = await startFirmwareDaemon(t, [
    '--http-upload-bytes-max',
    '65536',
    '--http-inflated-bytes-max',
    '1048576',
    '--http-jobs-max',
    '1',
    '--http-queue-max',
    '0',
    '--http-request-ms-max',
    '3000',
  ]);
  const work = path.join(http.base, 'bad');
  fs.mkdirSync(path.join(work, 'tree/lib/modules/x'), { recursive: true });
  fs.writeFileSync(path.join(work, 'tree/lib/modules/x/a.ko'), Buffer.alloc(1000, 1));
  run('tar', ['-C', path.join(work, 'tree'), '-c', '-z', '-f', path.join(work, 'good.tar.gz'), 'lib/modules']);
  /** `status code` of one upload, e.g. `400 BAD_REQUEST` (`200 ` when it signed). */
  const modules = (file: string, extra: string[] = []) => {
    const r = curlPost(`${http.url}/sign/modules`, ['-F', `machine=${MACHINE}`, '-F', `artifact=@${file}`, ...extra], { cwd: work });
    return `${r.status} ${r.errorCode}`;
  };
  t.equal(modules('good.tar.gz'), '200 ', 'the good tarball signs');

  await t.test('endpoints and methods', async (t) => {
    for (const [endpoint, names] of [
      ['/sign/tegra', /NVIDIA/],
      ['/sign/tegra/ueficapsule', /GenerateCapsule/],
      ['/sign/tegra/ekb', /EKB/],
      ['/sign/rk', /Rockchip/],
    ] as const) {
      const r = curlStatus(['-X', 'POST', '-F', `machine=${MACHINE}`, `${http.url}${endpoint}`]);
      t.equal(r.status, 501, `${endpoint} is 501`);
      t.equal(r.code, 'NOT_IMPLEMENTED', `${endpoint}'s code is in x-signerd-error-code`);
      t.match(r.body, names, `${endpoint} names what is missing`);
    }
    t.same(curlStatus([`${http.url}/health`]), { status: 200, body: 'OK', code: '', allow: '' });
    t.match(curlStatus(['-X', 'POST', `${http.url}/sign/nothing`]), { status: 404, code: 'NOT_FOUND' });
    t.match(curlStatus([`${http.url}/sign/modules`]), { status: 405, code: 'METHOD_NOT_ALLOWED', allow: 'POST' }, 'GET on a signing endpoint');
    t.match(curlStatus(['-X', 'POST', `${http.url}/health`]), { status: 405, code: 'METHOD_NOT_ALLOWED', allow: 'GET, HEAD' }, 'POST on /health');
    t.match(
      curlStatus(['-X', 'POST', '-d', `machine=${MACHINE}`, `${http.url}/sign/modules`]),
      { status: 400, code: 'BAD_REQUEST' },
      'urlencoded, not multipart',
    );
  });

  await t.test('corrupt and traversing tarballs', async (t) => {
    fs.writeFileSync(path.join(work, 'random.tar.gz'), Buffer.alloc(3000, 0x42));
    fs.writeFileSync(path.join(work, 'truncated.tar.gz'), fs.readFileSync(path.join(work, 'good.tar.gz')).subarray(0, 100));
    fs.writeFileSync(path.join(work, 'gzipped-junk.tar.gz'), zlib.gzipSync(Buffer.alloc(2048, 0x41)));
    fs.writeFileSync(path.join(work, 'outside.ko'), 'x');
    run('tar', ['-C', path.join(work, 'tree'), '-c', '-z', '-P', '-f', path.join(work, 'dotdot.tar.gz'), '../outside.ko']);
    run('tar', ['-c', '-z', '-P', '-f', path.join(work, 'absolute.tar.gz'), path.join(work, 'outside.ko')]);
    run('tar', ['-c', '-z', '-P', '-f', path.join(work, 'device.tar.gz'), '/dev/null']);
    // A pax sparse member (its data is a map and the pieces, not the file) and a name that is not UTF-8:
    // once taken, the first signed the map and the second renamed the member.
    fs.mkdirSync(path.join(work, 'sparse/lib/modules'), { recursive: true });
    const sparse = path.join(work, 'sparse/lib/modules/sparse.ko');
    fs.writeFileSync(sparse, '');
    fs.truncateSync(sparse, 10 * 1024 * 1024);
    fs.writeFileSync(sparse, 'hello', { flag: 'r+' });
    run('tar', ['-C', path.join(work, 'sparse'), '--sparse', '--format=posix', '-c', '-z', '-f', path.join(work, 'pax-sparse.tar.gz'), 'lib/modules']);
    const latin1 = run('python3', [
      '-c',
      'import io,tarfile,sys; t=tarfile.open(sys.argv[1],"w:gz",encoding="latin1",format=tarfile.GNU_FORMAT); i=tarfile.TarInfo("lib/modules/caf\xe9.ko"); i.size=1; t.addfile(i, io.BytesIO(b"x")); t.close()',
      path.join(work, 'latin1-name.tar.gz'),
    ]);
    t.equal(latin1.code, 0, 'the latin-1 fixture is made');
    for (const file of [
      'random.tar.gz',
      'truncated.tar.gz',
      'gzipped-junk.tar.gz',
      'dotdot.tar.gz',
      'absolute.tar.gz',
      'device.tar.gz',
      'pax-sparse.tar.gz',
      'latin1-name.tar.gz',
    ]) {
      t.equal(modules(file), '400 BAD_REQUEST', file);
    }
    t.ok(
      run('tar', ['-t', '-z', '-f', path.join(work, 'dotdot.tar.gz')])
        .stdout.toString()
        .startsWith('../'),
      'the traversal fixture really holds ../',
    );
  });

  await t.test('wrong field types', async (t) => {
    const cases: Array<[string, string[]]> = [
      ['artifact as text', ['-F', `machine=${MACHINE}`, '-F', 'artifact=good.tar.gz']],
      ['artifact as text/plain file', ['-F', `machine=${MACHINE}`, '-F', 'artifact=@good.tar.gz;type=text/plain']],
      ['machine as a file', ['-F', 'machine=@good.tar.gz', '-F', 'artifact=@good.tar.gz']],
      ['machine twice', ['-F', `machine=${MACHINE}`, '-F', `machine=${MACHINE}`, '-F', 'artifact=@good.tar.gz']],
      ['unknown field', ['-F', `machine=${MACHINE}`, '-F', 'extra=1', '-F', 'artifact=@good.tar.gz']],
      ['machine traversal', ['-F', 'machine=../../etc', '-F', 'artifact=@good.tar.gz']],
      ['machine with a slash', ['-F', 'machine=a/b', '-F', 'artifact=@good.tar.gz']],
      ['hashalg md5', ['-F', `machine=${MACHINE}`, '-F', 'hashalg=md5', '-F', 'artifact=@good.tar.gz']],
    ];
    for (const [name, args] of cases) t.match(curlPost(`${http.url}/sign/modules`, args, { cwd: work }), { status: 400, errorCode: 'BAD_REQUEST' }, name);
  });

  await t.test('oversize uploads and gzip bombs', async (t) => {
    fs.writeFileSync(path.join(work, 'big.bin'), Buffer.alloc(2 * 1024 * 1024, 7));
    t.equal(modules('big.bin'), '413 PAYLOAD_TOO_LARGE', 'Content-Length over the limit (curl sends Expect: 100-continue)');
    t.equal(modules('big.bin', ['-H', 'Expect:']), '413 PAYLOAD_TOO_LARGE', 'body streamed past the limit');
    t.equal(modules('big.bin', ['-H', 'Transfer-Encoding: chunked']), '413 PAYLOAD_TOO_LARGE', 'chunked body past the limit');
    fs.mkdirSync(path.join(work, 'bomb/lib/modules'), { recursive: true });
    fs.writeFileSync(path.join(work, 'bomb/lib/modules/zeros.bin'), Buffer.alloc(8 * 1024 * 1024));
    run('tar', ['-C', path.join(work, 'bomb'), '-c', '-z', '-f', path.join(work, 'bomb.tar.gz'), 'lib/modules']);
    t.ok(fs.statSync(path.join(work, 'bomb.tar.gz')).size < 65536, 'the bomb itself is small');
    t.equal(modules('bomb.tar.gz'), '413 PAYLOAD_TOO_LARGE', 'inflates past --http-inflated-bytes-max');
  });

  await t.test('a request over --http-jobs-max + --http-queue-max gets 503 while another is in progress', async (t) => {
    // Half an upload: the request holds the only job slot until it is finished or dropped.
    const slow = await stalledUpload(http, 60_000);
    const busy = await retryUntil(
      async () => modules('good.tar.gz'),
      (s) => s === '503 BUSY',
      5_000,
      50,
    );
    t.equal(busy, '503 BUSY');
    slow.destroy();
    const served = await retryUntil(
      async () => modules('good.tar.gz'),
      (s) => s === '200 ',
      5_000,
      50,
    );
    t.equal(served, '200 ', 'served again once the slot is free');
  });

  await t.test('an upload that stalls past --http-request-ms-max gets 408 and frees its slot', async (t) => {
    // The previous request's slot is released just after its reply, so a 503 here means "try again".
    const reply = await retryUntil(
      () => stalledUploadReply(Number(new URL(http.url).port)),
      (r) => r.startsWith('HTTP/1.1 408'),
      60_000,
      0,
    );
    t.match(reply, /^HTTP\/1\.1 408 /, 'node:http answers 408 Request Timeout');
    t.match(reply, /\r\nx-signerd-error-code: REQUEST_TIMEOUT\r\n/i, 'with its code');
    // The stalled request's slot is released just after its 408 goes out: allow for that race.
    const status = await retryUntil(
      async () => modules('good.tar.gz'),
      (s) => s !== '503 BUSY',
      5_000,
      50,
    );
    t.equal(status, '200 ', 'the slot is free again');
  });

  await t.test('the daemon still serves and left nothing behind', async (t) => {
    t.equal(curlStatus([`${http.url}/health`]).status, 200);
    t.same(await leftovers(http), []);
    t.same(fs.readdirSync(http.tempParent).length, 1, 'only the daemon’s own private dir');
  });

  await t.test('SIGTERM: clean exit, private temp dir removed', async (t) => {
    t.equal(await http.daemon.stop('SIGTERM'), 0);
    t.same(fs.readdirSync(http.tempParent), []);
  });
});

t.test('signing past --http-processing-ms-max gets 504; the job still cleans up', needTools('curl', 'tar'), async (t) => {
  // 400 modules need at least 400 RSA-2048 signatures plus their checks: far more CPU than 100 ms.
  const http = await startFirmwareDaemon(t, ['--http-processing-ms-max', '100']);
  const tree = path.join(http.base, 'many/lib/modules/x');
  fs.mkdirSync(tree, { recursive: true });
  for (let i = 0; i < 400; i++) fs.writeFileSync(path.join(tree, `m${i}.ko`), Buffer.alloc(2000, i & 0xff));
  run('tar', ['-C', path.join(http.base, 'many'), '-c', '-z', '-f', path.join(http.base, 'many.tar.gz'), 'lib/modules']);
  t.match(curlPost(`${http.url}/sign/modules`, ['-F', `machine=${MACHINE}`, '-F', 'artifact=@many.tar.gz'], { cwd: http.base }), {
    status: 504,
    errorCode: 'BACKEND_TIMEOUT',
  });
  t.same(await leftovers(http), [], 'the abandoned job removed its directory when it finished');
  t.equal(curlStatus([`${http.url}/health`]).status, 200);
});

t.test('one file over --http-file-bytes-max gets 413 (/sign/modules, /sign/optee); at the limit it signs', needTools('curl', 'tar'), async (t) => {
  const limit = 4096;
  const http = await startFirmwareDaemon(t, ['--http-file-bytes-max', String(limit)]);
  const work = path.join(http.base, 'files');
  const pack = (name: string, files: Record<string, Buffer>): string => {
    const dir = path.join(work, name);
    for (const [file, content] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      fs.writeFileSync(path.join(dir, file), content);
    }
    t.equal(run('tar', ['-C', dir, '-c', '-z', '-f', path.join(work, `${name}.tar.gz`), '.']).code, 0);
    return `${name}.tar.gz`;
  };
  const post = (endpoint: string, file: string) =>
    curlStatus(['-X', 'POST', '-F', `machine=${MACHINE}`, '-F', `artifact=@${path.join(work, file)}`, `${http.url}${endpoint}`]);
  const uuid = '8aaaf200-2450-11e4-abe2-0002a5d5c51b';
  const elf = `${uuid}.stripped.elf`;
  // [endpoint, name, tarball content, the file over the limit (null: none, it signs)]
  const cases: Array<[string, string, Record<string, Buffer>, string | null]> = [
    ['/sign/modules', 'modules-at-limit', { 'lib/modules/x/a.ko': Buffer.alloc(limit, 1) }, null],
    ['/sign/modules', 'modules-over', { 'lib/modules/x/a.ko': Buffer.alloc(1000, 1), 'lib/modules/x/b.ko': Buffer.alloc(limit + 1, 2) }, 'lib/modules/x/b.ko'],
    ['/sign/optee', 'optee-at-limit', { [elf]: Buffer.alloc(limit, 3) }, null],
    ['/sign/optee', 'optee-over', { [elf]: Buffer.alloc(limit + 1, 3), [`${uuid}.ta-version`]: Buffer.from('1\n') }, elf],
  ];
  for (const [endpoint, name, files, over] of cases) {
    const r = post(endpoint, pack(name, files));
    if (over === null) t.equal(r.status, 200, `${endpoint} ${name}: signed`);
    else {
      t.equal(r.status, 413, `${endpoint} ${name}: 413`);
      t.equal(r.body, `${over} larger than ${limit} bytes\n`, `${endpoint} ${name}: names the file and the limit`);
    }
    t.same(await leftovers(http), [], `${endpoint} ${name}: nothing left in the temp dir`);
  }
  t.equal(curlStatus([`${http.url}/health`]).status, 200, 'still serving');
});

t.test('a daemon killed mid-upload leaves its upload directory; the next start removes it', async (t) => {
  // Outside the test's fixture directory, which each daemon's start makes afresh.
  const shared = fs.mkdtempSync(path.join(os.tmpdir(), 'signerd-shared-tmp-'));
  t.teardown(() => fs.rmSync(shared, { recursive: true, force: true }));
  const first = await startFirmwareDaemon(t, ['--http-temp-dir', shared]);
  const [firstDir] = fs.readdirSync(shared);
  t.match(firstDir, new RegExp(`^signerd-uploads-${String(first.daemon.proc.pid)}-`), 'named by its process');
  // A stand-in for an upload in progress when the process was killed.
  fs.mkdirSync(path.join(shared, firstDir!, 'req-abcdef'));
  fs.writeFileSync(path.join(shared, firstDir!, 'req-abcdef', 'upload-artifact'), 'half an upload');
  await first.daemon.stop('SIGKILL');
  // Another process's, still running (pid 1 always is): kept.
  fs.mkdirSync(path.join(shared, 'signerd-uploads-1-abcdef'));
  const second = await startFirmwareDaemon(t, ['--http-temp-dir', shared]);
  const now = fs.readdirSync(shared).sort();
  t.notOk(now.includes(firstDir!), "the killed daemon's directory is gone");
  t.ok(now.includes('signerd-uploads-1-abcdef'), 'a running process keeps its own');
  t.equal(now.length, 2, 'and the new daemon has one');
  t.ok(
    second.daemon.logs.some((l) => l['msg'] === 'removed the upload directory of a process that no longer runs' && l['dir'] === firstDir),
    'the removal is logged',
  );
});
