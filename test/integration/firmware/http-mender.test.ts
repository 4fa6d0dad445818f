// /sign/mender: digsigserver's artifact-uri=file:// form as mendersign.bbclass uses it with a local
// server, and the upload form; every result checked with `mender-artifact validate -k` (RSA, P-256).
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { needTools } from '../../helpers/tools.js';
import { DISTRO, EC_DISTRO, curlPost, leftovers, longNamesTar, run, startFirmwareDaemon } from './http-fixtures.js';

function validate(artifact: string, pub: string): { ok: boolean; out: string } {
  const r = run('mender-artifact', ['validate', artifact, '-k', pub]);
  return { ok: r.code === 0, out: r.stdout.toString() + r.stderr };
}

t.test('/sign/mender', needTools('curl', 'tar', 'mender-artifact'), async (t) => {
  const http = await startFirmwareDaemon(t);
  const work = path.join(http.base, 'mender');
  fs.mkdirSync(work);
  fs.writeFileSync(path.join(work, 'rootfs.ext4'), Buffer.alloc(200_000, 0x5a));
  const write = run(
    'mender-artifact',
    ['write', 'rootfs-image', '-n', 'release-1', '-t', 'qemux86-64', '-f', 'rootfs.ext4', '-o', 'unsigned.mender', '--no-progress'],
    { cwd: work },
  );
  t.equal(write.code, 0, write.stderr);
  const unsigned = path.join(work, 'unsigned.mender');

  for (const [distro, pub, other] of [
    [DISTRO, http.keys.pub.menderRsa, http.keys.pub.menderEc],
    [EC_DISTRO, http.keys.pub.menderEc, http.keys.pub.menderRsa],
  ] as const) {
    await t.test(`upload form, ${distro === DISTRO ? 'RSA' : 'ECDSA P-256'}`, async (t) => {
      const out = `signed-${distro}.mender`;
      const post = curlPost(`${http.url}/sign/mender`, ['-F', `distro=${distro}`, '-F', 'artifact=@unsigned.mender'], { cwd: work, output: out });
      t.equal(post.status, 200, post.stderr);
      const good = validate(path.join(work, out), pub);
      t.ok(good.ok, `mender-artifact validate -k accepts it: ${good.out}`);
      t.notOk(validate(path.join(work, out), other).ok, 'and refuses it with the other key');
      t.notOk(validate(unsigned, pub).ok, 'the unsigned input does not validate');
    });
  }

  await t.test('an augmented artifact (header-augment, listed by the unsigned manifest-augment)', async (t) => {
    fs.writeFileSync(path.join(work, 'payload'), Buffer.alloc(1000, 0x11));
    fs.writeFileSync(path.join(work, 'augment'), Buffer.alloc(500, 0x22));
    const made = run(
      'mender-artifact',
      [
        'write',
        'module-image',
        '-n',
        'aug-1',
        '-t',
        'qemux86-64',
        '-T',
        'mod',
        '-f',
        'payload',
        '--augment-file',
        'augment',
        '--augment-type',
        'mod2',
        '-o',
        'augmented.mender',
      ],
      { cwd: work },
    );
    t.equal(made.code, 0, made.stderr);
    const post = curlPost(`${http.url}/sign/mender`, ['-F', `distro=${DISTRO}`, '-F', 'artifact=@augmented.mender'], {
      cwd: work,
      output: 'augmented-signed.mender',
    });
    t.equal(post.status, 200, post.stderr);
    const good = validate(path.join(work, 'augmented-signed.mender'), http.keys.pub.menderRsa);
    t.ok(good.ok, `mender-artifact validate -k accepts it: ${good.out}`);
  });

  await t.test('artifact-uri=file:// under the artifact root is signed in place', async (t) => {
    const target = path.join(http.artifactRoot, 'deploy', 'image.mender');
    fs.mkdirSync(path.dirname(target));
    fs.copyFileSync(unsigned, target);
    fs.chmodSync(target, 0o644);
    // The build's user owns its artifact (here nobody's uid, where the test may set it: as root).
    const asRoot = process.getuid?.() === 0;
    if (asRoot) fs.chownSync(target, 65534, 65534);
    const post = curlPost(`${http.url}/sign/mender`, ['-F', `distro=${DISTRO}`, '-F', `artifact-uri=file://${target}`], {
      output: path.join(work, 'reply.txt'),
    });
    t.equal(post.status, 200, post.stderr);
    t.equal(fs.readFileSync(path.join(work, 'reply.txt'), 'utf8'), 'Signing successful');
    t.ok(validate(target, http.keys.pub.menderRsa).ok, 'the artifact at the URI validates');
    t.equal(fs.statSync(target).mode & 0o777, 0o644, 'its mode is kept');
    if (asRoot) t.same([fs.statSync(target).uid, fs.statSync(target).gid], [65534, 65534], 'and its owner');
    t.same(fs.readdirSync(path.dirname(target)), ['image.mender'], 'no temporary file left beside it');
    t.equal(
      curlPost(`${http.url}/sign/mender`, ['-F', `distro=${DISTRO}`, '-F', `artifact-uri=file://${target}`]).status,
      400,
      'signing it again is refused (already signed)',
    );
  });

  await t.test('artifact-uri=file:// directly in the artifact root (the root set at the deploy directory)', async (t) => {
    const target = path.join(http.artifactRoot, 'top.mender');
    fs.copyFileSync(unsigned, target);
    const post = curlPost(`${http.url}/sign/mender`, ['-F', `distro=${DISTRO}`, '-F', `artifact-uri=file://${target}`]);
    t.equal(post.status, 200, post.stderr);
    t.ok(validate(target, http.keys.pub.menderRsa).ok, 'the artifact at the URI validates');
    fs.rmSync(target);
  });

  await t.test('artifact-uri: the path as written, as digsigserver reads it (a % is a %, never an escape)', async (t) => {
    for (const name of ['img-100%.mender', 'a%20b.mender', 'with space ü.mender']) {
      const target = path.join(http.artifactRoot, name);
      fs.copyFileSync(unsigned, target);
      const post = curlPost(`${http.url}/sign/mender`, ['-F', `distro=${DISTRO}`, '-F', `artifact-uri=file://${target}`]);
      t.equal(post.status, 200, `${name}: ${post.stderr}`);
      t.ok(validate(target, http.keys.pub.menderRsa).ok, `${name}: signed in place`);
      fs.rmSync(target);
    }
    t.equal(
      curlPost(`${http.url}/sign/mender`, ['-F', `distro=${DISTRO}`, '-F', `artifact-uri=file://${http.artifactRoot}/x.mender?y`]).status,
      400,
      'a query is refused, not dropped',
    );
  });

  await t.test('artifact-uri outside the root, s3, or missing', async (t) => {
    fs.symlinkSync(unsigned, path.join(http.artifactRoot, 'escape.mender'));
    fs.symlinkSync(path.dirname(http.keys.keyRoot), path.join(http.artifactRoot, 'elsewhere'));
    const cases: Array<[string, string[], number]> = [
      ['.. out of the root', ['-F', `distro=${DISTRO}`, '-F', `artifact-uri=file://${http.artifactRoot}/../mender/unsigned.mender`], 403],
      ['symlink out of the root', ['-F', `distro=${DISTRO}`, '-F', `artifact-uri=file://${http.artifactRoot}/escape.mender`], 403],
      ['a key file', ['-F', `distro=${DISTRO}`, '-F', `artifact-uri=file://${http.keys.keyRoot}/${DISTRO}/mender/private.key`], 403],
      ['no such file', ['-F', `distro=${DISTRO}`, '-F', `artifact-uri=file://${http.artifactRoot}/nope.mender`], 400],
      // Outside the root, a missing file is refused like an existing one: the answer tells nothing.
      ['no such file outside the root', ['-F', `distro=${DISTRO}`, '-F', `artifact-uri=file://${http.keys.keyRoot}/nope.key`], 403],
      // Through a directory link that leads out of the root, a missing file is outside too.
      ['no such file behind a link out of the root', ['-F', `distro=${DISTRO}`, '-F', `artifact-uri=file://${http.artifactRoot}/elsewhere/nope.key`], 403],
      ['an encoded slash', ['-F', `distro=${DISTRO}`, '-F', `artifact-uri=file://${http.artifactRoot}/sub%2Fx.mender`], 400],
      ['a malformed escape', ['-F', `distro=${DISTRO}`, '-F', `artifact-uri=file://${http.artifactRoot}/%zz`], 400],
      ['s3', ['-F', `distro=${DISTRO}`, '-F', 'artifact-uri=s3://bucket/testdistro/x'], 501],
      ['http', ['-F', `distro=${DISTRO}`, '-F', 'artifact-uri=http://example.invalid/x'], 400],
      ['neither uri nor upload', ['-F', `distro=${DISTRO}`], 400],
      ['both uri and upload', ['-F', `distro=${DISTRO}`, '-F', `artifact-uri=file://${unsigned}`, '-F', `artifact=@${unsigned}`], 400],
      ['distro missing', ['-F', `artifact=@${unsigned}`], 400],
      ['unknown distro', ['-F', 'distro=nodistro', '-F', `artifact=@${unsigned}`], 404],
    ];
    for (const [name, args, status] of cases) t.equal(curlPost(`${http.url}/sign/mender`, args).status, status, name);
    t.ok(validate(unsigned, http.keys.pub.menderRsa).ok === false && fs.existsSync(unsigned), 'the file outside the root was not touched');
  });

  await t.test('corrupt or inconsistent artifacts are refused', async (t) => {
    const bad = path.join(work, 'bad');
    fs.mkdirSync(bad);
    t.equal(run('tar', ['-C', bad, '-xf', unsigned]).code, 0);
    const version = fs.readFileSync(path.join(bad, 'version'));
    fs.writeFileSync(path.join(bad, 'version'), '{"format":"mender","version":3} ');
    run('tar', ['-C', bad, '-cf', path.join(work, 'mismatch.mender'), 'version', 'manifest', 'header.tar.gz', 'data/0000.tar.gz']);
    fs.writeFileSync(path.join(bad, 'version'), version);
    // Artifacts mender-artifact itself signs, and then refuses to validate: refused before signing.
    const members = ['version', 'manifest', 'header.tar.gz', 'data/0000.tar.gz'];
    fs.writeFileSync(path.join(bad, 'extra'), 'x');
    run('tar', ['-C', bad, '-cf', path.join(work, 'extra.mender'), ...members, 'extra']);
    run('tar', [
      '--hard-dereference',
      '-C',
      bad,
      '-cf',
      path.join(work, 'twice.mender'),
      'version',
      'manifest',
      'manifest',
      'header.tar.gz',
      'data/0000.tar.gz',
    ]);
    const manifest = fs.readFileSync(path.join(bad, 'manifest'), 'utf8');
    fs.writeFileSync(
      path.join(bad, 'manifest'),
      manifest
        .split('\n')
        .filter((l) => !l.endsWith('header.tar.gz'))
        .join('\n'),
    );
    run('tar', ['-C', bad, '-cf', path.join(work, 'unlisted-header.mender'), ...members]);
    fs.writeFileSync(path.join(bad, 'manifest'), manifest);
    fs.writeFileSync(path.join(work, 'truncated.mender'), fs.readFileSync(unsigned).subarray(0, 3000));
    fs.writeFileSync(path.join(work, 'garbage.mender'), Buffer.alloc(4096, 0x41));
    for (const [name, why] of [
      ['extra.mender', /unexpected member "extra"/],
      ['twice.mender', /manifest appears twice/],
      ['unlisted-header.mender', /manifest does not list 'header.tar.gz'/],
    ] as const) {
      const body = path.join(work, `${name}.reply`);
      const r = run('curl', ['--silent', '-o', body, '-w', '%{http_code}', '-F', `distro=${DISTRO}`, '-F', `artifact=@${name}`, `${http.url}/sign/mender`], {
        cwd: work,
      });
      t.equal(r.stdout.toString(), '400', name);
      t.match(fs.readFileSync(body, 'utf8'), why, name);
    }
    for (const name of ['mismatch.mender', 'truncated.mender', 'garbage.mender']) {
      t.equal(curlPost(`${http.url}/sign/mender`, ['-F', `distro=${DISTRO}`, '-F', `artifact=@${name}`], { cwd: work }).status, 400, name);
    }
    t.same(await leftovers(http), [], 'nothing left in the temp dir');
  });

  await t.test('entry names past 8 MiB in all are refused (every member is held while the manifest is checked)', async (t) => {
    // 200 members named by 60,000-byte long-name records (within the 1,024 entries): 12 MB of names.
    const leading = { version: '{"format":"mender","version":3}', manifest: '' };
    fs.writeFileSync(path.join(work, 'long-names.mender'), longNamesTar(200, 60_000, leading));
    const post = curlPost(`${http.url}/sign/mender`, ['-F', `distro=${DISTRO}`, '-F', 'artifact=@long-names.mender'], { cwd: work });
    t.match(post, { status: 413, errorCode: 'PAYLOAD_TOO_LARGE' });
    fs.writeFileSync(path.join(work, 'some-long-names.mender'), longNamesTar(100, 60_000, leading));
    const within = curlPost(`${http.url}/sign/mender`, ['-F', `distro=${DISTRO}`, '-F', 'artifact=@some-long-names.mender'], { cwd: work });
    t.match(within, { status: 400, errorCode: 'BAD_REQUEST' }, 'within the budget: refused for what the members are, not their names');
    t.same(await leftovers(http), [], 'nothing left in the temp dir');
  });
});
