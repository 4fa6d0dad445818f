// UEFI signing over the line protocol: scripts/firmware-sign-uefi.sh sends only the Authenticode hash
// and attaches the returned PKCS#7 with sbattach; the result passes sbverify and osslsigncode and is
// byte-identical to sbsign's output for the same signingTime. UEFI-CMS gives NVIDIA's detached CMS.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { signPeImage } from '../../../daemons/firmware/formats/authenticode.js';
import { openKeyRoot } from '../../../daemons/firmware/keys/key-root.js';
import { request } from '../../helpers/line-client.js';
import { needTools } from '../../helpers/tools.js';
import { cmsVerify, copyKeyRoot, MACHINE, okValue, script, startFirmware, tool } from './line-fixtures.js';
import { PE_IMAGES, signingTimeOf } from './uefi-fixtures.js';

t.test('UEFI through the line protocol', needTools('nc', 'openssl', 'osslsigncode', 'sbattach', 'sbverify'), async (t) => {
  const dir = t.testdir({});
  const keyRoot = copyKeyRoot(dir);
  const daemon = await startFirmware(keyRoot);
  t.teardown(() => daemon.stop());
  const cert = path.join(keyRoot, MACHINE, 'uefisign/db.crt');

  t.test('firmware-sign-uefi.sh: hash out, PKCS#7 back, attached: the bytes sbsign writes', async (t) => {
    const image = path.join(dir, 'app.efi');
    fs.copyFileSync(PE_IMAGES[0]!, image);
    const out = path.join(dir, 'app.signed.efi');
    const r = script('firmware-sign-uefi.sh', [MACHINE, image, out], daemon.port);
    t.equal(r.code, 0, r.out);
    t.match(tool('sbverify', ['--cert', cert, out]).out, /Signature verification OK/);
    t.equal(tool('osslsigncode', ['verify', '-in', out, '-CAfile', cert]).code, 0, 'osslsigncode verify');
    const ours = fs.readFileSync(out);
    // sbsign cannot be told a signingTime; signPeImage equals sbsign for a given time (uefi-formats.test.ts),
    // so equality with it at our signature's time makes the script's output sbsign's.
    const root = await openKeyRoot(keyRoot, { callMsMax: 5_000 });
    t.teardown(() => root.close());
    const expected = await signPeImage(root.signer(MACHINE, 'uefisign'), fs.readFileSync(image), signingTimeOf(ours));
    t.ok(ours.equals(expected), 'byte-identical to sbsign at the same signingTime');
    t.equal(script('firmware-sign-uefi.sh', [MACHINE, out, path.join(dir, 'twice.efi')], daemon.port).code, 1, 'an already signed image is refused');
    t.notOk(fs.existsSync(path.join(dir, 'twice.efi')));
    const notPe = path.join(dir, 'not.efi');
    fs.writeFileSync(notPe, 'not a PE image');
    t.equal(script('firmware-sign-uefi.sh', [MACHINE, notPe], daemon.port).code, 1, 'not a PE image');
    t.equal(fs.readFileSync(notPe, 'utf8'), 'not a PE image', 'left as it was');
  });

  t.test('UEFI-CMS: openssl cms -verify over the file', async (t) => {
    const file = PE_IMAGES[1]!;
    const sha = crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
    fs.writeFileSync(path.join(dir, 'stub.sig'), Buffer.from(okValue(await request(daemon.port, `UEFI-CMS ${MACHINE} ${sha}`)), 'base64'));
    const v = cmsVerify('stub.sig', file, cert, { cwd: dir });
    t.equal(v.code, 0, v.out);
  });

  t.test('bad requests', async (t) => {
    t.match(await request(daemon.port, `UEFI ${MACHINE} abcd`), /^ERR BAD_REQUEST /, 'short digest');
    t.match(await request(daemon.port, `UEFI ../x ${'00'.repeat(32)}`), /^ERR BAD_REQUEST /, 'traversal');
    t.match(await request(daemon.port, `UEFI nomachine ${'00'.repeat(32)}`), /^ERR UNKNOWN_KEY /, 'no uefisign key');
  });
});
