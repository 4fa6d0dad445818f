// UEFI signing with the db key in a SoftHSM2 token, through the same key seam: the line protocol's
// client script gives an image sbverify accepts, byte-identical (RSA PKCS#1 v1.5 is deterministic) to
// the file key's at the same signingTime; in process, the HTTP front end's whole-image flow too.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { signPeImage } from '../../../daemons/firmware/formats/authenticode.js';
import { openKeyRoot } from '../../../daemons/firmware/keys/key-root.js';
import { createToken, needSoftHsm } from '../../helpers/softhsm.js';
import { needTools } from '../../helpers/tools.js';
import { importKeyRoot, openHsmKeyRoot, startHsmFirmware } from './hsm-fixtures.js';
import { MACHINE, script, tool } from './line-fixtures.js';
import { PE_IMAGES, signingTimeOf } from './uefi-fixtures.js';

const skip = needSoftHsm().skip ?? needTools('openssl', 'nc', 'osslsigncode', 'sbattach', 'sbverify').skip;

t.test('UEFI with an HSM-held db key', skip ? { skip } : {}, async (t) => {
  const dir = t.testdir({});
  const token = createToken('fw-uefi');
  t.teardown(() => token.cleanup());
  const { fileRoot, hsmRoot } = await importKeyRoot(dir, token);
  t.notOk(fs.existsSync(path.join(hsmRoot, MACHINE, 'uefisign/db.key')), 'the HSM key root holds no db.key');
  const daemon = await startHsmFirmware(hsmRoot, token);
  t.teardown(() => daemon.stop());
  const fileKeys = await openKeyRoot(fileRoot, { callMsMax: 5_000 });
  t.teardown(() => fileKeys.close());
  const cert = path.join(fileRoot, MACHINE, 'uefisign/db.crt');
  const image = fs.readFileSync(PE_IMAGES[0]!);

  t.test('firmware-sign-uefi.sh against the HSM daemon', async (t) => {
    const out = path.join(dir, 'hsm.efi');
    const r = script('firmware-sign-uefi.sh', [MACHINE, PE_IMAGES[0]!, out], daemon.port);
    t.equal(r.code, 0, r.out);
    t.match(tool('sbverify', ['--cert', cert, out]).out, /Signature verification OK/);
    const signed = fs.readFileSync(out);
    t.ok(signed.equals(await signPeImage(fileKeys.signer(MACHINE, 'uefisign'), image, signingTimeOf(signed))), 'the file key gives the same bytes');
  });

  t.test('in process: the whole-image flow equals the file key', async (t) => {
    const root = await openHsmKeyRoot(t, hsmRoot, token);
    const when = new Date(Date.UTC(2026, 11, 6, 12, 0, 0));
    t.ok((await signPeImage(root.signer(MACHINE, 'uefisign'), image, when)).equals(await signPeImage(fileKeys.signer(MACHINE, 'uefisign'), image, when)));
  });
});
