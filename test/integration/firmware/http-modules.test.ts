// /sign/modules driven exactly as tegra-test-distro's kernel-module-signing.bbclass does (tar, curl,
// `tar -x ./lib/modules`), checked against the real sign-file (byte for byte), openssl cms and modinfo.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { needTools } from '../../helpers/tools.js';
import { MACHINE, curlPost, leftovers, run, startFirmwareDaemon } from './http-fixtures.js';
import { cmsVerify, moduleSigningKey, SIGN_FILE, selfSignedCertArgs, signFile, splitModuleSignature } from './line-fixtures.js';
import { until } from '../../helpers/polling.js';

const VERSION_DIR = 'lib/modules/6.1.0-test';
const LONG_DIR = 'kernel/drivers/a/rather/long/directory/path/so/that/the/member/names/need/gnu/long/name/records/in/tar';

/** A tiny relocatable ELF with a .modinfo section, enough for modinfo to parse a signature. */
function buildElfModule(dir: string): string {
  const src = path.join(dir, 'dummy.c');
  fs.writeFileSync(
    src,
    ['license=GPL', 'name=dummy', 'vermagic=6.1.0 SMP mod_unload']
      .map((s, i) => `__attribute__((section(".modinfo"), used)) static const char m${i}[] = "${s}";`)
      .join('\n') + '\n',
  );
  const out = path.join(dir, 'dummy.ko');
  const r = run('gcc', ['-c', '-o', out, src]);
  if (r.code !== 0) throw new Error(`gcc: ${r.stderr}`);
  return out;
}

/** The PKGD tree the class tars up: modules at several depths, a symlink, a .debug dir it excludes. */
function buildTree(pkgd: string, elf: string): string[] {
  const root = path.join(pkgd, VERSION_DIR);
  fs.mkdirSync(path.join(root, LONG_DIR), { recursive: true });
  fs.mkdirSync(path.join(root, 'kernel/fs/.debug'), { recursive: true });
  const modules = ['kernel/fs/small.ko', `${LONG_DIR}/long_module_name_for_gnu_tar.ko`, 'kernel/dummy.ko'];
  fs.writeFileSync(path.join(root, modules[0]!), Buffer.alloc(4000, 7));
  fs.writeFileSync(path.join(root, modules[1]!), Buffer.from(Array.from({ length: 9000 }, (_, i) => (i * 31) & 0xff)));
  fs.copyFileSync(elf, path.join(root, modules[2]!));
  fs.writeFileSync(path.join(root, 'kernel/fs/.debug/small.ko'), 'debug info, excluded by the class');
  fs.writeFileSync(path.join(root, 'modules.dep'), 'kernel/fs/small.ko:\n');
  fs.writeFileSync(path.join(root, 'kernel/fs/notes.ko.xz'), 'not a module sign-file would touch');
  fs.symlinkSync('kernel/fs/small.ko', path.join(root, 'small-link.ko'));
  fs.linkSync(path.join(root, modules[0]!), path.join(root, 'kernel/fs/small-hardlink.ko'));
  return modules;
}

t.test('/sign/modules as kernel-module-signing.bbclass calls it', needTools('curl', 'tar', 'openssl', 'modinfo', 'gcc', SIGN_FILE), async (t) => {
  const http = await startFirmwareDaemon(t);
  const elf = buildElfModule(http.base);
  const key = moduleSigningKey(http.keys.keyRoot, MACHINE);

  for (const [hashalg, format] of [
    ['sha512', 'gnu'],
    ['sha256', 'pax'],
  ] as const) {
    await t.test(`${hashalg}, input tar in ${format} format`, async (t) => {
      const work = fs.mkdtempSync(path.join(http.base, `${hashalg}-`));
      const pkgd = path.join(work, 'pkgd');
      const modules = buildTree(pkgd, elf);
      const pristine = path.join(work, 'pristine');
      fs.cpSync(pkgd, pristine, { recursive: true, verbatimSymlinks: true });
      t.equal(
        run('tar', ['-C', pkgd, `--format=${format}`, '--exclude=*/.debug/*', '-c', '-z', '-f', path.join(work, 'modules-in.tar.gz'), 'lib/modules']).code,
        0,
      );

      const post = curlPost(`${http.url}/sign/modules`, ['-F', `machine=${MACHINE}`, '-F', `hashalg=${hashalg}`, '-F', 'artifact=@modules-in.tar.gz'], {
        cwd: work,
        output: 'modules-out.tar.gz',
      });
      t.equal(post.status, 200, post.stderr);
      const listing = run('tar', ['-t', '-z', '-f', path.join(work, 'modules-out.tar.gz')])
        .stdout.toString()
        .split('\n')
        .filter(Boolean);
      t.ok(
        listing.every((name) => name.startsWith('./')),
        'every member name starts with ./',
      );
      t.notOk(
        listing.some((name) => name.includes('.debug/small.ko')),
        'the excluded .debug file is not there',
      );

      const extract = run('tar', ['-C', pkgd, '-x', '--no-same-owner', '-f', path.join(work, 'modules-out.tar.gz'), './lib/modules']);
      t.equal(extract.code, 0, `tar -x ./lib/modules: ${extract.stderr}`);
      for (const module of modules) {
        const ref = path.join(work, 'ref.ko');
        t.equal(signFile(hashalg, key, path.join(pristine, VERSION_DIR, module), ref).code, 0);
        t.ok(
          fs.readFileSync(ref).equals(fs.readFileSync(path.join(pkgd, VERSION_DIR, module))),
          `${path.basename(module)} is byte-identical to sign-file's output`,
        );
      }
      t.equal(fs.readlinkSync(path.join(pkgd, VERSION_DIR, 'small-link.ko')), 'kernel/fs/small.ko', 'symlink kept');
      const hard = fs.statSync(path.join(pkgd, VERSION_DIR, 'kernel/fs/small-hardlink.ko'));
      t.equal(hard.ino, fs.statSync(path.join(pkgd, VERSION_DIR, modules[0]!)).ino, 'hard link kept (and so signed once)');
      t.equal(fs.readFileSync(path.join(pkgd, VERSION_DIR, 'kernel/fs/notes.ko.xz'), 'utf8'), 'not a module sign-file would touch', '.ko.xz left alone');
      t.same(await leftovers(http), [], 'nothing left in the temp dir');
    });
  }

  await t.test('openssl cms verifies the appended blob; modinfo names the signer', async (t) => {
    const work = fs.mkdtempSync(path.join(http.base, 'verify-'));
    fs.mkdirSync(path.join(work, 'pkgd/lib/modules/6.1.0-test'), { recursive: true });
    fs.copyFileSync(elf, path.join(work, 'pkgd/lib/modules/6.1.0-test/dummy.ko'));
    run('tar', ['-C', path.join(work, 'pkgd'), '-c', '-z', '-f', path.join(work, 'in.tar.gz'), 'lib/modules']);
    t.equal(curlPost(`${http.url}/sign/modules`, ['-F', `machine=${MACHINE}`, '-F', 'artifact=@in.tar.gz'], { cwd: work, output: 'out.tar.gz' }).status, 200);
    run('tar', ['-C', work, '-x', '-f', path.join(work, 'out.tar.gz'), './lib/modules']);
    const signed = fs.readFileSync(path.join(work, 'lib/modules/6.1.0-test/dummy.ko'));
    const { content, sig } = splitModuleSignature(signed);
    fs.writeFileSync(path.join(work, 'sig.p7'), sig);
    fs.writeFileSync(path.join(work, 'content.bin'), content);
    const cms = cmsVerify('sig.p7', 'content.bin', key.cert, { cwd: work, certfile: key.cert });
    t.match(cms.stderr, /Verification successful/, 'openssl cms -verify');
    t.ok(content.equals(fs.readFileSync(elf)), 'the module bytes are unchanged before the signature');
    const modinfo = (field: string) =>
      run('modinfo', ['-F', field, path.join(work, 'lib/modules/6.1.0-test/dummy.ko')])
        .stdout.toString()
        .trim();
    t.equal(modinfo('sig_id'), 'PKCS#7');
    t.equal(modinfo('signer'), 'Test module signing key');
    t.equal(modinfo('sig_hashalgo'), 'sha512', 'hashalg defaults to sha512, as digsigserver');
  });

  await t.test('a module signed by the kernel build (CONFIG_MODULE_SIG_ALL=y) is re-signed: identical to sign-file on the stripped module', async (t) => {
    const work = fs.mkdtempSync(path.join(http.base, 'resign-'));
    const dir = path.join(work, 'pkgd/lib/modules/x');
    fs.mkdirSync(dir, { recursive: true });
    // The kernel build's own key (any key but the daemon's), as modules_install signs with it.
    const buildKey = path.join(work, 'build-key.pem');
    const buildCert = path.join(work, 'build-cert.pem');
    t.equal(run('openssl', selfSignedCertArgs(buildKey, buildCert, '/CN=Build time autogenerated kernel key', 1)).code, 0);
    const random = path.join(work, 'random.ko');
    fs.writeFileSync(random, Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7) & 0xff)));
    const byBuild = (input: string, output: string) => t.equal(signFile('sha256', { priv: buildKey, cert: buildCert }, input, output).code, 0);
    byBuild(elf, path.join(dir, 'elf.ko'));
    byBuild(random, path.join(dir, 'random.ko'));
    // sign-file appends rather than replaces: a module signed twice carries two signatures.
    byBuild(path.join(dir, 'random.ko'), path.join(dir, 'twice.ko'));
    t.equal(
      run('modinfo', ['-F', 'signer', path.join(dir, 'elf.ko')])
        .stdout.toString()
        .trim(),
      'Build time autogenerated kernel key',
      'the fixture carries the build key signature',
    );
    run('tar', ['-C', path.join(work, 'pkgd'), '-c', '-z', '-f', path.join(work, 'in.tar.gz'), 'lib/modules']);
    t.equal(curlPost(`${http.url}/sign/modules`, ['-F', `machine=${MACHINE}`, '-F', 'artifact=@in.tar.gz'], { cwd: work, output: 'out.tar.gz' }).status, 200);
    const out = path.join(work, 'out');
    fs.mkdirSync(out);
    run('tar', ['-C', out, '-x', '-f', path.join(work, 'out.tar.gz'), './lib/modules']);
    for (const [name, original] of [
      ['elf.ko', elf],
      ['random.ko', random],
      ['twice.ko', random],
    ] as const) {
      const ref = path.join(work, `ref-${name}`);
      t.equal(signFile('sha512', key, original, ref).code, 0);
      t.ok(
        fs.readFileSync(path.join(out, 'lib/modules/x', name)).equals(fs.readFileSync(ref)),
        `${name}: byte-identical to sign-file on the module without its old signature(s)`,
      );
    }
    t.equal(
      run('modinfo', ['-F', 'signer', path.join(out, 'lib/modules/x/elf.ko')])
        .stdout.toString()
        .trim(),
      'Test module signing key',
      'signed by the daemon key alone',
    );
    // The log line is written after the reply; give it a moment to reach us.
    const logged = () => http.daemon.logs.some((l) => l['msg'] === 'request' && l['resigned'] === 3 && l['signed'] === 3);
    t.ok(await until(logged, 2_000), 'the request log counts the re-signed modules');
    t.same(await leftovers(http), []);
  });

  await t.test('a module whose signature block is damaged is refused, not signed twice', async (t) => {
    const work = fs.mkdtempSync(path.join(http.base, 'twice-'));
    fs.mkdirSync(path.join(work, 'pkgd/lib/modules/x'), { recursive: true });
    const ref = path.join(work, 'pkgd/lib/modules/x/signed.ko');
    signFile('sha512', key, elf, ref);
    // The trailer's sig_len (big-endian, just before the magic) claims more bytes than the file has.
    const signed = fs.readFileSync(ref);
    signed.writeUInt32BE(signed.length, signed.length - 28 - 4);
    fs.writeFileSync(ref, signed);
    run('tar', ['-C', path.join(work, 'pkgd'), '-c', '-z', '-f', path.join(work, 'in.tar.gz'), 'lib/modules']);
    t.equal(curlPost(`${http.url}/sign/modules`, ['-F', `machine=${MACHINE}`, '-F', 'artifact=@in.tar.gz'], { cwd: work }).status, 400);
    t.same(await leftovers(http), []);
  });
});
