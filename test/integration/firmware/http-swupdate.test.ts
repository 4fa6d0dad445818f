// /sign/swupdate driven as swupdatesign.bbclass's SWUPDATE_SIGN_TOOL does (curl -F sw-description=@...
// -F distro -F method --output sw-description.sig): CMS checked by the Debian swupdate on a real .swu
// (private TMPDIR, judged by its output), RSA and RSA-PSS by openssl dgst -verify.
import t from 'tap';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { needTools } from '../../helpers/tools.js';
import { DISTRO, curlPost, leftovers, run, startFirmwareDaemon } from './http-fixtures.js';
import { swupdateCheck } from './swupdate-fixtures.js';

function writeSwDescription(dir: string): void {
  const image = crypto.randomBytes(4096);
  fs.writeFileSync(path.join(dir, 'rootfs.img'), image);
  const sha = crypto.createHash('sha256').update(image).digest('hex');
  fs.writeFileSync(
    path.join(dir, 'sw-description'),
    `software =\n{\n\tversion = "1.0";\n\thardware-compatibility: [ "1.0" ];\n\timages: (\n\t\t{\n\t\t\tfilename = "rootfs.img";\n\t\t\tdevice = "/dev/null";\n\t\t\tsha256 = "${sha}";\n\t\t}\n\t);\n}\n`,
  );
}

/** swupdate -c on a .swu built as meta-swupdate does (cpio -H crc, sw-description then its .sig). */
function swupdateOnDir(dir: string, cert: string): { accepted: boolean; out: string } {
  const list = Buffer.from('sw-description\nsw-description.sig\nrootfs.img\n');
  const cpio = run('cpio', ['-o', '-H', 'crc', '--reproducible'], { cwd: dir, input: list });
  fs.writeFileSync(path.join(dir, 'update.swu'), cpio.stdout);
  return swupdateCheck(path.join(dir, 'update.swu'), cert);
}

const signTool = (method?: string) => ['-F', 'sw-description=@sw-description', '-F', `distro=${DISTRO}`, ...(method ? ['-F', `method=${method}`] : [])];

t.test('/sign/swupdate as swupdatesign.bbclass calls it', needTools('curl', 'openssl', 'swupdate', 'cpio', 'flock'), async (t) => {
  const http = await startFirmwareDaemon(t);
  const work = path.join(http.base, 'swu');
  fs.mkdirSync(work);
  writeSwDescription(work);

  await t.test('CMS: the Debian swupdate accepts the .swu', async (t) => {
    const post = curlPost(`${http.url}/sign/swupdate`, signTool('CMS'), { cwd: work, output: 'sw-description.sig' });
    t.equal(post.status, 200, post.stderr);
    const check = swupdateOnDir(work, http.keys.pub.cmsCert);
    t.ok(check.accepted, `swupdate -c verified the signature and succeeded:\n${check.out}`);
  });

  await t.test('CMS: a tampered sw-description is rejected by swupdate', async (t) => {
    const tampered = path.join(http.base, 'swu-tampered');
    fs.cpSync(work, tampered, { recursive: true });
    fs.appendFileSync(path.join(tampered, 'sw-description'), '# changed after signing\n');
    t.notOk(swupdateOnDir(tampered, http.keys.pub.cmsCert).accepted, 'swupdate -c refuses it');
  });

  for (const [method, sigopts] of [
    [undefined, []],
    ['RSA', []],
    ['RSA-PSS', ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:-2']],
  ] as const) {
    await t.test(`${method ?? 'default method (RSA)'}: openssl dgst -verify`, async (t) => {
      const out = `sig-${method ?? 'default'}`;
      t.equal(curlPost(`${http.url}/sign/swupdate`, signTool(method), { cwd: work, output: out }).status, 200);
      const r = run('openssl', ['dgst', '-sha256', '-verify', http.keys.pub.swupdateRsa, ...sigopts, '-signature', out, 'sw-description'], { cwd: work });
      t.match(r.stdout.toString(), /Verified OK/);
      t.equal(fs.statSync(path.join(work, out)).size, 256, 'a bare RSA-2048 signature');
    });
  }

  await t.test('bad requests', async (t) => {
    fs.writeFileSync(path.join(work, 'empty'), '');
    const cases: Array<[string, string[], number]> = [
      // The same rule as the line protocol's: swupdate cannot install an image whose sw-description is empty.
      ['empty sw-description', ['-F', 'sw-description=@empty', '-F', `distro=${DISTRO}`, '-F', 'method=CMS'], 400],
      ['unknown method', ['-F', 'sw-description=@sw-description', '-F', `distro=${DISTRO}`, '-F', 'method=ECDSA'], 400],
      ['distro missing', ['-F', 'sw-description=@sw-description'], 400],
      ['distro with a path', ['-F', 'sw-description=@sw-description', '-F', 'distro=../keys'], 400],
      ['unknown distro', ['-F', 'sw-description=@sw-description', '-F', 'distro=otherdistro'], 404],
      ['sw-description as a plain field', ['-F', 'sw-description=text', '-F', `distro=${DISTRO}`], 400],
      ['sw-description as text/plain', ['-F', 'sw-description=@sw-description;type=text/plain', '-F', `distro=${DISTRO}`], 400],
      ['not UTF-8', ['-F', 'sw-description=@rootfs.img', '-F', `distro=${DISTRO}`], 400],
      ['backend pkcs11', ['-F', 'sw-description=@sw-description', '-F', `distro=${DISTRO}`, '-F', 'backend=pkcs11', '-F', 'key-uri=pkcs11:token=x'], 501],
    ];
    for (const [name, args, status] of cases) {
      const post = curlPost(`${http.url}/sign/swupdate`, args, { cwd: work });
      t.equal(post.status, status, name);
      t.equal(post.code, 22, `${name}: curl --fail exits 22, failing the BitBake task`);
    }
    t.same(await leftovers(http), [], 'nothing left in the temp dir');
  });
});
