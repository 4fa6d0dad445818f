// Kernel module signing over the line protocol against the real linux-kbuild sign-file, openssl
// cms -verify and kmod's modinfo: byte-identical blobs (digest flow) and modules (whole-file script).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { request } from '../../helpers/line-client.js';
import { needTools } from '../../helpers/tools.js';
import {
  cmsVerify,
  copyKeyRoot,
  MACHINE,
  moduleSigningKey,
  okValue,
  readVector,
  script,
  SIGN_FILE,
  signFile,
  signFileDetached,
  splitModuleSignature,
  startFirmware,
  tool,
} from './line-fixtures.js';

// modinfo lives in /usr/sbin, which is not on every user's PATH.
const MODINFO = fs.existsSync('/usr/sbin/modinfo') ? '/usr/sbin/modinfo' : 'modinfo';
const tools = needTools('openssl', 'nc', MODINFO, SIGN_FILE);

t.test('kernel modules through the line protocol', tools, async (t) => {
  const dir = t.testdir({});
  const keyRoot = copyKeyRoot(dir);
  const daemon = await startFirmware(keyRoot);
  t.teardown(() => daemon.stop());
  const key = moduleSigningKey(keyRoot, MACHINE);
  const dummy = readVector('module/dummy.ko');

  t.test('digest flow: the blob equals sign-file -d, for each hash', async (t) => {
    for (const hash of ['sha256', 'sha384', 'sha512']) {
      const digest = crypto.createHash(hash).update(dummy).digest('hex');
      const blob = Buffer.from(okValue(await request(daemon.port, `MODULE ${MACHINE} ${hash} ${digest}`)), 'base64');
      const ko = path.join(dir, `live-${hash}.ko`);
      fs.writeFileSync(ko, dummy);
      const r = signFileDetached(hash, key, ko);
      t.equal(r.code, 0, `sign-file -d ${hash}: ${r.out}`);
      t.ok(blob.equals(fs.readFileSync(`${ko}.p7s`)), `${hash}: identical to sign-file -d`);
      if (hash !== 'sha384') t.ok(blob.equals(readVector(`module/dummy.ko.${hash}.p7s`)), `${hash}: identical to the committed vector`);
      // The client half of the remote flow: sign-file -s appends our blob; identical to plain sign-file.
      const viaS = path.join(dir, `via-s-${hash}.ko`);
      const ref = path.join(dir, `ref-${hash}.ko`);
      fs.writeFileSync(path.join(dir, `blob-${hash}.p7s`), blob);
      t.equal(tool(SIGN_FILE, ['-s', path.join(dir, `blob-${hash}.p7s`), hash, key.cert, ko, viaS]).code, 0);
      t.equal(signFile(hash, key, ko, ref).code, 0);
      t.ok(fs.readFileSync(viaS).equals(fs.readFileSync(ref)), `${hash}: sign-file -s with our blob == sign-file`);
    }
  });

  t.test('whole-file flow: scripts/firmware-sign-module.sh output equals sign-file', async (t) => {
    const cases: Array<[string, Buffer]> = [
      ['dummy.ko', dummy],
      ['random.ko', crypto.randomBytes(300_000)],
      ['empty.ko', Buffer.alloc(0)],
    ];
    for (const [name, content] of cases) {
      const ours = path.join(dir, `ours-${name}`);
      const ref = path.join(dir, `ref-${name}`);
      fs.writeFileSync(ours, content);
      fs.writeFileSync(path.join(dir, name), content);
      const r = script('firmware-sign-module.sh', [MACHINE, 'sha512', ours], daemon.port);
      t.equal(r.code, 0, `script: ${r.out}`);
      t.equal(signFile('sha512', key, path.join(dir, name), ref).code, 0);
      t.ok(fs.readFileSync(ours).equals(fs.readFileSync(ref)), `${name}: byte-identical to sign-file`);
    }
    t.ok(fs.readFileSync(path.join(dir, 'ours-dummy.ko')).equals(readVector('module/dummy.ko.sha512.signed')), 'identical to the committed vector');
    const again = script('firmware-sign-module.sh', [MACHINE, 'sha512', path.join(dir, 'ours-dummy.ko')], daemon.port);
    t.not(again.code, 0, 'an already signed module is refused');
    t.match(again.out, /already signed/);
    const bad = script('firmware-sign-module.sh', ['nosuchmachine', 'sha512', path.join(dir, 'dummy.ko')], daemon.port);
    t.not(bad.code, 0);
    t.match(bad.out, /ERR UNKNOWN_KEY/);
    t.ok(fs.readFileSync(path.join(dir, 'dummy.ko')).equals(dummy), 'a failed request leaves the module untouched');
  });

  t.test('openssl cms -verify accepts the extracted blob; modinfo shows the signer', async (t) => {
    const signed = path.join(dir, 'ours-dummy.ko');
    const bytes = fs.readFileSync(signed);
    const { content, sig } = splitModuleSignature(bytes);
    fs.writeFileSync(path.join(dir, 'sig.p7'), sig);
    fs.writeFileSync(path.join(dir, 'content.bin'), content);
    fs.writeFileSync(path.join(dir, 'cert.pem'), tool('openssl', ['x509', '-inform', 'DER', '-in', key.cert]).stdout);
    const verify = (file: string) => cmsVerify('sig.p7', file, 'cert.pem', { cwd: dir, certfile: 'cert.pem' });
    const ok = verify('content.bin');
    t.equal(ok.code, 0, ok.out);
    t.match(ok.out, /Verification successful/);
    fs.writeFileSync(path.join(dir, 'tampered.bin'), Buffer.concat([content, Buffer.from([0])]));
    t.not(verify('tampered.bin').code, 0, 'tampered content fails');
    const field = (f: string) => tool(MODINFO, ['-F', f, signed]).out.trim();
    t.equal(field('signer'), 'signerd test module signing key');
    t.equal(field('sig_id'), 'PKCS#7');
    t.equal(field('sig_hashalgo'), 'sha512');
    const serial = tool('openssl', ['x509', '-inform', 'DER', '-in', key.cert, '-noout', '-serial']).out.trim().split('=')[1]!;
    t.equal(field('sig_key').replace(/:/g, '').toUpperCase().replace(/^0+/, ''), serial.replace(/^0+/, ''), 'sig_key is the certificate serial');
  });

  t.test('bad module requests get one ERR line and the daemon keeps serving', async (t) => {
    t.match(await request(daemon.port, `MODULE ${MACHINE} sha512 ${'ab'.repeat(32)}`), /^ERR BAD_REQUEST .*64 bytes/);
    t.match(await request(daemon.port, `MODULE ${MACHINE} md5 ${'ab'.repeat(16)}`), /^ERR BAD_REQUEST hash must be/);
    t.match(await request(daemon.port, `MODULE ${MACHINE} sha256 ${'zz'.repeat(32)}`), /^ERR BAD_REQUEST digest is not hex/);
    t.match(await request(daemon.port, `MODULE ../${MACHINE} sha256 ${'ab'.repeat(32)}`), /^ERR BAD_REQUEST machine must match/);
    t.match(await request(daemon.port, `MODULE poky sha256 ${'ab'.repeat(32)}`), /^ERR UNKNOWN_KEY /);
    t.equal(await request(daemon.port, 'PING'), 'OK PONG');
  });
});
