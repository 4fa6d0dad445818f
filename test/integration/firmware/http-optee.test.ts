// /sign/optee: a tarball of `<uuid>.stripped.elf` (+ `.ta-version`) in, `<uuid>.ta` out, as
// digsigserver. PKCS#1 v1.5 output byte-identical to a TA assembled with openssl (firmware.md §5.2);
// PSS (digsigserver's only mode) verified with openssl pkeyutl, salt 32 as OP-TEE requires.
import t from 'tap';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { needTools } from '../../helpers/tools.js';
import zlib from 'node:zlib';
import { MACHINE, curlPost, leftovers, longNamesTar, run, startFirmwareDaemon } from './http-fixtures.js';
import { pssDigestVerify } from './line-fixtures.js';

const UUID = '8aaaf200-2450-11e4-abe2-0002a5d5c51b';
const ALGO = { PKCS1: 0x70004830, PSS: 0x70414930 };

function shdr(algo: number, imageBytes: number): Buffer {
  const b = Buffer.alloc(20);
  b.writeUInt32LE(0x4f545348, 0);
  b.writeUInt32LE(1, 4);
  b.writeUInt32LE(imageBytes, 8);
  b.writeUInt32LE(algo, 12);
  b.writeUInt16LE(32, 16);
  b.writeUInt16LE(256, 18);
  return b;
}

t.test('/sign/optee', needTools('curl', 'tar', 'openssl'), async (t) => {
  const http = await startFirmwareDaemon(t);
  const key = path.join(http.keys.keyRoot, MACHINE, 'opteesign', 'optee-signing-key.pem');
  const work = path.join(http.base, 'ta');
  fs.mkdirSync(path.join(work, 'in'), { recursive: true });
  const elf = crypto.randomBytes(7000);
  fs.writeFileSync(path.join(work, 'in', `${UUID}.stripped.elf`), elf);
  fs.writeFileSync(path.join(work, 'in', `${UUID}.ta-version`), '0x3\n');
  t.equal(run('tar', ['-C', path.join(work, 'in'), '-c', '-z', '-f', path.join(work, 'ta-in.tar.gz'), '.']).code, 0);
  const version = Buffer.from([3, 0, 0, 0]);
  const uuid = Buffer.from(UUID.replace(/-/g, ''), 'hex');

  const signTa = async (algo: string | null, name: string): Promise<Buffer> => {
    const args = ['-F', `machine=${MACHINE}`, '-F', 'artifact=@ta-in.tar.gz', ...(algo ? ['-F', `algo=${algo}`] : [])];
    const post = curlPost(`${http.url}/sign/optee`, args, { cwd: work, output: `${name}.tar.gz` });
    t.equal(post.status, 200, post.stderr);
    const out = path.join(work, name);
    fs.mkdirSync(out);
    t.equal(run('tar', ['-C', out, '-x', '-z', '-f', path.join(work, `${name}.tar.gz`)]).code, 0);
    t.same(fs.readdirSync(out), [`${UUID}.ta`], 'only <uuid>.ta comes back (inputs removed)');
    t.ok(
      run('tar', ['-t', '-z', '-f', path.join(work, `${name}.tar.gz`)])
        .stdout.toString()
        .includes(`./${UUID}.ta`),
      './ names',
    );
    return fs.readFileSync(path.join(out, `${UUID}.ta`));
  };

  await t.test('PKCS#1 v1.5: byte-identical to the openssl-assembled TA', async (t) => {
    const ta = await signTa('TEE_ALG_RSASSA_PKCS1_V1_5_SHA256', 'pkcs1');
    const header = shdr(ALGO.PKCS1, elf.length);
    const digest = crypto
      .createHash('sha256')
      .update(Buffer.concat([header, uuid, version, elf]))
      .digest();
    fs.writeFileSync(path.join(work, 'dig'), digest);
    const sig = run('openssl', [
      'pkeyutl',
      '-sign',
      '-inkey',
      key,
      '-pkeyopt',
      'digest:sha256',
      '-pkeyopt',
      'rsa_padding_mode:pkcs1',
      '-in',
      path.join(work, 'dig'),
    ]).stdout;
    t.equal(sig.length, 256);
    t.ok(ta.equals(Buffer.concat([header, digest, sig, uuid, version, elf])), 'identical');
  });

  await t.test('PSS (the default, as digsigserver): openssl verifies with salt length 32', async (t) => {
    const ta = await signTa(null, 'pss');
    const header = shdr(ALGO.PSS, elf.length);
    t.ok(ta.subarray(0, 20).equals(header), 'header names PSS');
    const digest = crypto
      .createHash('sha256')
      .update(Buffer.concat([header, uuid, version, elf]))
      .digest();
    t.ok(ta.subarray(20, 52).equals(digest), 'hash over shdr, uuid, version, image');
    fs.writeFileSync(path.join(work, 'pss.dig'), digest);
    fs.writeFileSync(path.join(work, 'pss.sig'), ta.subarray(52, 52 + 256));
    const verify = pssDigestVerify(http.keys.pub.optee, path.join(work, 'pss.dig'), path.join(work, 'pss.sig'), '32');
    t.match(verify.stdout.toString(), /Signature Verified Successfully/);
    t.ok(ta.subarray(52 + 256).equals(Buffer.concat([uuid, version, elf])));
  });

  await t.test('bad TA inputs', async (t) => {
    const make = (name: string, files: Record<string, string | Buffer>): string => {
      const dir = path.join(work, name);
      fs.mkdirSync(dir);
      for (const [file, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, file), content);
      run('tar', ['-C', dir, '-c', '-z', '-f', path.join(work, `${name}.tar.gz`), '.']);
      return `${name}.tar.gz`;
    };
    const cases: Array<[string, string, number]> = [
      ['no image', make('noimage', { 'readme.txt': 'x' }), 400],
      ['not a uuid', make('baduuid', { 'not-a-uuid.stripped.elf': elf }), 400],
      ['bad version', make('badversion', { [`${UUID}.stripped.elf`]: elf, [`${UUID}.ta-version`]: 'three\n' }), 400],
      ['two images in one directory', make('two', { [`${UUID}.stripped.elf`]: elf, 'aaaaaaaa-2450-11e4-abe2-0002a5d5c51b.stripped.elf': elf }), 400],
    ];
    for (const [name, file, status] of cases)
      t.equal(curlPost(`${http.url}/sign/optee`, ['-F', `machine=${MACHINE}`, '-F', `artifact=@${file}`], { cwd: work }).status, status, name);
    t.equal(
      curlPost(`${http.url}/sign/optee`, ['-F', `machine=${MACHINE}`, '-F', 'algo=TEE_ALG_ECDSA_P256', '-F', 'artifact=@ta-in.tar.gz'], { cwd: work }).status,
      400,
      'unknown algo',
    );
    t.equal(curlPost(`${http.url}/sign/optee`, ['-F', 'machine=nomachine', '-F', 'artifact=@ta-in.tar.gz'], { cwd: work }).status, 404, 'unknown machine');
    t.same(await leftovers(http), [], 'nothing left in the temp dir');
  });

  await t.test('entry names past 8 MiB in all are refused (every entry is held until the TA directories are known)', async (t) => {
    // 200 names of 60,000 bytes: 12 MB of names; the audit's 16,000 of 64 KiB took RSS past 1 GB.
    fs.writeFileSync(path.join(work, 'long-names.tar.gz'), zlib.gzipSync(longNamesTar(200, 60_000)));
    const post = curlPost(`${http.url}/sign/optee`, ['-F', `machine=${MACHINE}`, '-F', 'artifact=@long-names.tar.gz'], { cwd: work });
    t.match(post, { status: 413, errorCode: 'PAYLOAD_TOO_LARGE' });
    // Long names within the budget still pass the reader (and then fail only for holding no TA).
    fs.writeFileSync(path.join(work, 'some-long-names.tar.gz'), zlib.gzipSync(longNamesTar(100, 60_000)));
    const within = curlPost(`${http.url}/sign/optee`, ['-F', `machine=${MACHINE}`, '-F', 'artifact=@some-long-names.tar.gz'], { cwd: work });
    t.match(within, { status: 400, errorCode: 'BAD_REQUEST' }, 'no *.stripped.elf, not a size refusal');
    t.same(await leftovers(http), [], 'nothing left in the temp dir');
  });
});
