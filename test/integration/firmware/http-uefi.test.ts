// /sign/tegra/uefi driven exactly as meta-tegra-signing-server's digsigserver-uefi-signing.bbclass calls
// it (tegra_uefi_sbsign, tegra_uefi_split_sign, tegra_uefi_attach_sign: curl -F machine -F signing_type
// -F artifact=@$1 --output ...), each result checked by the tool that consumes it (sbverify, osslsigncode,
// openssl cms -verify); /sign/uefi's detached form by sbverify --detached; bad input refused, nothing left.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { needTools } from '../../helpers/tools.js';
import { MACHINE, curlPost, leftovers, run, startFirmwareDaemon } from './http-fixtures.js';
import { cmsVerify } from './line-fixtures.js';
import { PE_IMAGES } from './uefi-fixtures.js';

const form = (signingType: string, file: string, machine = MACHINE) => [
  '-F',
  `machine=${machine}`,
  '-F',
  `signing_type=${signingType}`,
  '-F',
  `artifact=@${file}`,
];

t.test('/sign/tegra/uefi as digsigserver-uefi-signing.bbclass calls it', needTools('curl', 'sbverify', 'osslsigncode', 'openssl'), async (t) => {
  const http = await startFirmwareDaemon(t);
  const cert = http.keys.pub.uefiCert;
  const work = path.join(http.base, 'work');
  fs.mkdirSync(work);
  const original = fs.readFileSync(PE_IMAGES[0]!);

  t.test('tegra_uefi_sbsign: --output $1 replaces the image with the signed one', async (t) => {
    fs.writeFileSync(path.join(work, 'BOOTAA64.efi'), original);
    const post = curlPost(`${http.url}/sign/tegra/uefi`, form('sbsign', 'BOOTAA64.efi'), { cwd: work, output: 'BOOTAA64.efi' });
    t.equal(post.code, 0, post.stderr);
    t.equal(post.status, 200);
    const signed = path.join(work, 'BOOTAA64.efi');
    const sb = run('sbverify', ['--cert', cert, signed]);
    t.match(sb.stdout.toString() + sb.stderr, /Signature verification OK/, 'sbverify --cert accepts it');
    const v = run('osslsigncode', ['verify', '-in', signed, '-CAfile', cert]);
    t.equal(v.code, 0, `osslsigncode verify: ${v.stdout.toString()}${v.stderr}`);
    t.same(await leftovers(http), []);
  });

  t.test('tegra_uefi_split_sign: --output $1.sig is a detached CMS over the file', async (t) => {
    const file = path.join(work, 'Image');
    fs.writeFileSync(file, original.subarray(0, 100_001));
    const post = curlPost(`${http.url}/sign/tegra/uefi`, form('signature', 'Image'), { cwd: work, output: 'Image.sig' });
    t.equal(post.status, 200, post.stderr);
    const verify = (content: string) => cmsVerify('Image.sig', content, cert, { cwd: work });
    t.equal(verify('Image').code, 0, 'openssl cms -verify accepts it');
    const flipped = fs.readFileSync(file);
    flipped.writeUInt8(flipped[5000]! ^ 1, 5000);
    fs.writeFileSync(path.join(work, 'Image.flipped'), flipped);
    t.not(verify('Image.flipped').code, 0, 'a flipped byte fails');
  });

  t.test('tegra_uefi_attach_sign: --output $1.signed is the file padded to 2048 bytes, then the CMS', async (t) => {
    const content = original.subarray(0, 5000);
    fs.writeFileSync(path.join(work, 'extlinux.conf'), content);
    const post = curlPost(`${http.url}/sign/tegra/uefi`, form('attach_signature', 'extlinux.conf'), { cwd: work, output: 'extlinux.conf.signed' });
    t.equal(post.status, 200, post.stderr);
    const signed = fs.readFileSync(path.join(work, 'extlinux.conf.signed'));
    t.ok(signed.subarray(0, 5000).equals(content), 'the file first');
    t.ok(signed.subarray(5000, 6144).equals(Buffer.alloc(1144)), 'zeros up to 6144 (truncate --size=%2048)');
    fs.writeFileSync(path.join(work, 'attached.sig'), signed.subarray(6144));
    const v = cmsVerify('attached.sig', 'extlinux.conf', cert, { cwd: work });
    t.equal(v.code, 0, `the CMS covers the unpadded file: ${v.stderr}`);
  });

  t.test('/sign/uefi detached: the Authenticode PKCS#7 alone, for sbattach / sbverify --detached', async (t) => {
    fs.writeFileSync(path.join(work, 'stub.efi'), fs.readFileSync(PE_IMAGES[1]!));
    const post = curlPost(`${http.url}/sign/uefi`, form('detached', 'stub.efi'), { cwd: work, output: 'stub.p7' });
    t.equal(post.status, 200, post.stderr);
    const v = run('sbverify', ['--cert', cert, '--detached', 'stub.p7', 'stub.efi'], { cwd: work });
    t.match(v.stdout.toString() + v.stderr, /Signature verification OK/);
  });

  t.test('bad input: clear status, nothing left behind', async (t) => {
    fs.writeFileSync(path.join(work, 'notpe.efi'), Buffer.from('MZ but nothing after it is a PE header'));
    fs.writeFileSync(path.join(work, 'empty'), '');
    fs.writeFileSync(path.join(work, 'cut.efi'), original.subarray(0, 4096));
    const cases: Array<[string, string[], number]> = [
      ['malformed PE', form('sbsign', 'notpe.efi'), 400],
      ['truncated PE', form('sbsign', 'cut.efi'), 400],
      ['empty artifact', form('signature', 'empty'), 400],
      ['no signing_type', ['-F', `machine=${MACHINE}`, '-F', 'artifact=@notpe.efi'], 400],
      ['unknown signing_type', form('pesign', 'notpe.efi'), 400],
      ['traversal in machine', form('sbsign', 'notpe.efi', '../testmachine'), 400],
      ['machine without uefisign keys', form('sbsign', 'notpe.efi', 'othermachine'), 404],
    ];
    for (const [name, args, status] of cases) {
      const post = curlPost(`${http.url}/sign/tegra/uefi`, args, { cwd: work });
      t.equal(post.status, status, name);
      t.equal(post.code, 22, `${name}: curl --fail fails the task`);
    }
    const signed = path.join(work, 'BOOTAA64.efi');
    t.equal(curlPost(`${http.url}/sign/tegra/uefi`, form('sbsign', 'BOOTAA64.efi'), { cwd: work }).status, 400, 'an already signed image');
    t.ok(fs.existsSync(signed));
    t.same(await leftovers(http), []);
  });
});
