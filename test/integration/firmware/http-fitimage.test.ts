// /sign/fitimage driven with curl as a build calls digsigserver: a FIT from `mkimage -f` comes back
// with every hash and signature node filled in; decompiled by dtc it equals what `mkimage -F -k` writes
// with the same key and timestamp, but for the signer's name and version. Refusals get their codes;
// nothing is left behind.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { needTools } from '../../helpers/tools.js';
import { MACHINE, curlPost, leftovers, run, startFirmwareDaemon } from './http-fixtures.js';
import { vector } from './line-fixtures.js';

/** The dts dtc decompiles a FIT to, without the lines that name the signing program. */
function dtsWithoutSigner(file: string): string {
  const r = run('dtc', ['-I', 'dtb', '-O', 'dts', file]);
  if (r.code !== 0) throw new Error(`dtc ${file}: ${r.stderr}`);
  return r.stdout
    .toString()
    .split('\n')
    .filter((line) => !/^\s*signer-(name|version) = /.test(line))
    .join('\n');
}

t.test('/sign/fitimage signs a FIT as mkimage -F -k does', needTools('curl', 'mkimage', 'dtc', 'fdtget'), async (t) => {
  // A FIT is signed in memory: --http-file-bytes-max bounds it (the 100 KB kernel's FIT fits, a 200 KB one does not).
  const http = await startFirmwareDaemon(t, ['--http-file-bytes-max', '150000'], (keyRoot) => {
    const slot = path.join(keyRoot, MACHINE, 'fitimagesign');
    fs.cpSync(vector('keyroot', 'qemux86-64', 'fitimagesign'), slot, { recursive: true });
    fs.chmodSync(path.join(slot, 'dev.key'), 0o600);
  });
  const work = path.join(http.base, 'work');
  fs.mkdirSync(work);
  fs.writeFileSync(path.join(work, 'kernel.bin'), crypto.randomBytes(100_000));
  fs.writeFileSync(path.join(work, 'board.dtb'), crypto.randomBytes(3_000));
  fs.copyFileSync(vector('fit', 'simple.its'), path.join(work, 'fit.its'));
  t.equal(run('mkimage', ['-f', 'fit.its', 'fitImage'], { cwd: work }).code, 0, 'mkimage -f builds the unsigned FIT');
  const form = (...extra: string[]) => ['-F', `machine=${MACHINE}`, ...extra, '-F', 'artifact=@fitImage'];

  await t.test('signed, and equal to mkimage -F -k but for the signer', async (t) => {
    const post = curlPost(`${http.url}/sign/fitimage`, form('-F', 'comment=nightly'), { cwd: work, output: 'fitImage.signed' });
    t.equal(post.status, 200, post.stderr);
    const fdtget = (node: string, prop: string, type: string) =>
      run('fdtget', ['-t', type, 'fitImage.signed', node, prop], { cwd: work }).stdout.toString().trim();
    t.equal(fdtget('/configurations/conf-1/signature-1', 'signer-name', 's'), 'signerd');
    t.match(fdtget('/configurations/conf-1/signature-1', 'signer-version', 's'), /^\d+\.\d+\.\d+/);
    t.equal(fdtget('/images/kernel-1/signature-1', 'comment', 's'), 'nightly');
    const timestamp = fdtget('/configurations/conf-1/signature-1', 'timestamp', 'u');
    t.ok(Math.abs(Number(timestamp) - Date.now() / 1000) < 600, 'timestamp is now');

    fs.copyFileSync(path.join(work, 'fitImage'), path.join(work, 'fitImage.mkimage'));
    const keyDir = path.join(http.keys.keyRoot, MACHINE, 'fitimagesign');
    const ref = run('mkimage', ['-F', '-k', keyDir, '-c', 'nightly', 'fitImage.mkimage'], { cwd: work, env: { SOURCE_DATE_EPOCH: timestamp } });
    t.equal(ref.code, 0, ref.stderr);
    t.equal(
      dtsWithoutSigner(path.join(work, 'fitImage.signed')),
      dtsWithoutSigner(path.join(work, 'fitImage.mkimage')),
      'dtc: the same tree, values and signatures',
    );
    t.same(await leftovers(http), []);
  });

  await t.test('with a dtb: a tarball of the FIT and the dtb holding the public key, as mkimage -K -r writes it', async (t) => {
    fs.writeFileSync(path.join(work, 'u-boot.dts'), '/dts-v1/;\n/ {\n\tmodel = "signerd test board";\n\tchosen { };\n};\n');
    t.equal(run('dtc', ['-I', 'dts', '-O', 'dtb', '-o', 'u-boot.dtb', 'u-boot.dts'], { cwd: work }).code, 0);
    const post = curlPost(`${http.url}/sign/fitimage`, form('-F', 'dtb=@u-boot.dtb', '-F', 'mark_required=1'), { cwd: work, output: 'signed.tar.gz' });
    t.equal(post.status, 200, post.stderr);
    fs.mkdirSync(path.join(work, 'out'));
    t.equal(run('tar', ['-x', '-z', '-f', '../signed.tar.gz'], { cwd: path.join(work, 'out') }).code, 0);
    t.same(fs.readdirSync(path.join(work, 'out')).sort(), ['fitImage.signed', 'u-boot.dtb']);
    t.equal(run('fdtget', ['-t', 's', 'out/u-boot.dtb', '/signature/key-dev', 'required'], { cwd: work }).stdout.toString().trim(), 'conf');
    // mkimage -K needs the key's certificate; the key root has none (signerd reads the public key from the key).
    const keyDir = path.join(work, 'mkimage-keys');
    fs.mkdirSync(keyDir);
    fs.copyFileSync(path.join(http.keys.keyRoot, MACHINE, 'fitimagesign/dev.key'), path.join(keyDir, 'dev.key'));
    t.equal(
      run('openssl', ['req', '-batch', '-new', '-x509', '-key', 'dev.key', '-out', 'dev.crt', '-subj', '/CN=dev', '-days', '1'], { cwd: keyDir }).code,
      0,
    );
    fs.copyFileSync(path.join(work, 'fitImage'), path.join(work, 'fitImage.k'));
    fs.copyFileSync(path.join(work, 'u-boot.dtb'), path.join(work, 'u-boot.k.dtb'));
    const timestamp = run('fdtget', ['-t', 'u', 'out/fitImage.signed', '/configurations/conf-1/signature-1', 'timestamp'], { cwd: work })
      .stdout.toString()
      .trim();
    const ref = run('mkimage', ['-F', '-k', keyDir, '-K', 'u-boot.k.dtb', '-r', 'fitImage.k'], { cwd: work, env: { SOURCE_DATE_EPOCH: timestamp } });
    t.equal(ref.code, 0, ref.stderr);
    t.ok(
      fs.readFileSync(path.join(work, 'out/u-boot.dtb')).equals(fs.readFileSync(path.join(work, 'u-boot.k.dtb'))),
      "the dtb is byte-identical to mkimage -K's",
    );
    t.equal(dtsWithoutSigner(path.join(work, 'out/fitImage.signed')), dtsWithoutSigner(path.join(work, 'fitImage.k')), 'and the FIT the same tree');
    t.equal(
      `${curlPost(`${http.url}/sign/fitimage`, form('-F', 'dtb=@u-boot.dtb;filename=fitImage.signed'), { cwd: work }).status}`,
      '400',
      'a dtb named like the FIT',
    );
    t.same(await leftovers(http), []);
  });

  await t.test('refusals get their status and code', async (t) => {
    const post = (...args: string[]) => {
      const r = curlPost(`${http.url}/sign/fitimage`, args, { cwd: work });
      return `${r.status} ${r.errorCode}`;
    };
    fs.writeFileSync(path.join(work, 'junk'), crypto.randomBytes(5000));
    t.equal(post('-F', `machine=${MACHINE}`, '-F', 'artifact=@junk'), '400 BAD_REQUEST', 'not a FIT');
    t.equal(post(...form('-F', 'keyname=prod')), '404 UNKNOWN_KEY', 'a key name the machine does not have');
    t.equal(post('-F', 'artifact=@fitImage'), '404 UNKNOWN_KEY', "digsigserver's default machine (imx) is not in this key root");
    t.equal(post('-F', 'machine=../etc', '-F', 'artifact=@fitImage'), '400 BAD_REQUEST', 'machine is a name, never a path');
    t.equal(post(...form('-F', 'external_data_offset=0x1000')), '501 NOT_IMPLEMENTED', 'external data (-p)');
    t.equal(post(...form('-F', 'backend=pkcs11')), '501 NOT_IMPLEMENTED', 'client-side pkcs11 URIs');
    t.equal(post(...form('-F', 'algo=sha384,ecdsa384')), '501 NOT_IMPLEMENTED', 'ECDSA P-384');
    t.equal(post(...form('-F', 'algo=sha256,ecdsa256')), '400 BAD_REQUEST', 'ECDSA P-256 with the RSA key');
    t.equal(post(...form('-F', 'algo=sha1,rsa2048')), '400 BAD_REQUEST', 'sha1');
    t.equal(post(...form('-F', 'comment=tab\there')), '400 BAD_REQUEST', 'a comment that is not one printable line');
    t.equal(post('-F', `machine=${MACHINE}`), '400 BAD_REQUEST', 'no artifact');
    t.equal(post(...form('-F', 'mark_required=1')), '200 ', 'mark_required (only meaningful with a dtb) is accepted');
    fs.mkdirSync(path.join(work, 'big'));
    fs.copyFileSync(path.join(work, 'fit.its'), path.join(work, 'big/fit.its'));
    fs.copyFileSync(path.join(work, 'board.dtb'), path.join(work, 'big/board.dtb'));
    fs.writeFileSync(path.join(work, 'big/kernel.bin'), crypto.randomBytes(200_000));
    t.equal(run('mkimage', ['-f', 'fit.its', 'fitImage'], { cwd: path.join(work, 'big') }).code, 0);
    t.equal(post('-F', `machine=${MACHINE}`, '-F', 'artifact=@big/fitImage'), '413 PAYLOAD_TOO_LARGE', 'a FIT over --http-file-bytes-max');
    t.same(await leftovers(http), []);
  });
});
