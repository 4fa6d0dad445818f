// The firmware daemon with every key in a SoftHSM2 token (imported from the committed PEM keys):
// byte-identical to sign-file / openssl where the scheme is deterministic, accepted by openssl cms,
// swupdate -c and mender-artifact validate where it is not, and the same KEYINFO as the files.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { request } from '../../helpers/line-client.js';
import { createToken, needSoftHsm } from '../../helpers/softhsm.js';
import { needTools } from '../../helpers/tools.js';
import { signFitImage } from '../../../daemons/firmware/formats/fit-image.js';
import { signModule } from '../../../daemons/firmware/formats/kernel-module.js';
import { signMenderDigest } from '../../../daemons/firmware/formats/mender.js';
import { signTa, signTaDigest } from '../../../daemons/firmware/formats/optee.js';
import { openKeyRoot } from '../../../daemons/firmware/keys/key-root.js';
import { EC_CMS_DISTRO, HSM_KEYS, importKeyRoot, openHsmKeyRoot, startHsmFirmware } from './hsm-fixtures.js';
import { buildSwu, swupdateCheck } from './swupdate-fixtures.js';
import {
  cmsVerify,
  DISTRO,
  MACHINE,
  moduleSigningKey,
  okValue,
  pssDigestVerify,
  readVector,
  RSA_MENDER_DISTRO,
  script,
  SIGN_FILE,
  signFileDetached,
  tool,
} from './line-fixtures.js';

const P256_HALF_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n >> 1n;
const UUID = '8aaaf200-2450-11e4-abe2-0002a5d5c51b';
const skip = needSoftHsm().skip ?? needTools('openssl', 'nc', 'tar', 'cpio', 'swupdate', 'flock', 'mender-artifact', SIGN_FILE).skip;

t.test('firmware signing with HSM-held keys', skip ? { skip } : {}, async (t) => {
  const dir = t.testdir({});
  const token = createToken('fw-hsm');
  t.teardown(() => token.cleanup());
  const { fileRoot, hsmRoot } = await importKeyRoot(dir, token);
  const daemon = await startHsmFirmware(hsmRoot, token);
  t.teardown(() => daemon.stop());
  const fileKeys = await openKeyRoot(fileRoot, { callMsMax: 5_000 });
  const dummy = readVector('module/dummy.ko');
  const description = readVector('swupdate/sw-description');
  const manifest = readVector('mender/manifest');
  const pubOf = (file: string): string => {
    const out = path.join(dir, `${path.basename(path.dirname(path.dirname(file)))}-${path.basename(file)}.pub`);
    fs.writeFileSync(out, tool('openssl', ['pkey', '-in', file, '-pubout']).stdout);
    return out;
  };

  t.test('the same keys: KEYS and KEYINFO as from the PEM files, one log line per HSM key, no PIN', async (t) => {
    t.equal(
      await request(daemon.port, 'KEYS'),
      `OK ${fileKeys
        .entries()
        .map((e) => `${e.signType}:${e.selector}`)
        .join(' ')}`,
    );
    const slots = [
      [MACHINE, 'kmodsign'],
      [DISTRO, 'swupdate-rsa'],
      [DISTRO, 'swupdate-cms'],
      [DISTRO, 'mender'],
      [RSA_MENDER_DISTRO, 'mender'],
      [MACHINE, 'opteesign'],
      [EC_CMS_DISTRO, 'swupdate-cms'],
    ] as const;
    for (const [selector, slot] of slots) {
      const i = fileKeys.signer(selector, slot);
      const expected = `OK type=${i.type} bits=${i.bits}${i.curve ? ` curve=${i.curve}` : ''} sig-bytes=${i.sigBytes} key-id=${i.keyId} cert=${i.certificate ? 'yes' : 'no'}`;
      t.equal(await request(daemon.port, `KEYINFO ${selector} ${slot}`), expected, `${selector} ${slot}`);
      t.equal(await request(daemon.port, `PUBKEY ${selector} ${slot}`), `OK ${i.publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`);
    }
    t.equal(daemon.logs.filter((l) => l['msg'] === 'firmware key held in an HSM').length, HSM_KEYS.length + 1);
    t.notMatch(JSON.stringify(daemon.logs) + daemon.stderr(), token.pin, 'the PIN never reaches the logs');
    t.notMatch(JSON.stringify(daemon.logs), 'pin-source', 'logged URIs carry no query');
  });

  t.test('kernel modules: blobs byte-identical to sign-file -d with the PEM key; openssl cms -verify accepts them', async (t) => {
    const key = moduleSigningKey(fileRoot, MACHINE);
    fs.writeFileSync(path.join(dir, 'cert.pem'), tool('openssl', ['x509', '-inform', 'DER', '-in', key.cert]).stdout);
    for (const hash of ['sha256', 'sha384', 'sha512']) {
      const blob = Buffer.from(
        okValue(await request(daemon.port, `MODULE ${MACHINE} ${hash} ${crypto.createHash(hash).update(dummy).digest('hex')}`)),
        'base64',
      );
      const ko = path.join(dir, `m-${hash}.ko`);
      fs.writeFileSync(ko, dummy);
      const r = signFileDetached(hash, key, ko);
      t.equal(r.code, 0, r.out);
      t.ok(blob.equals(fs.readFileSync(`${ko}.p7s`)), `${hash}: identical to sign-file -d`);
      fs.writeFileSync(path.join(dir, `m-${hash}.p7`), blob);
      const v = cmsVerify(`m-${hash}.p7`, ko, 'cert.pem', { cwd: dir, certfile: 'cert.pem' });
      t.match(v.out, /Verification successful/, `${hash}: openssl cms -verify`);
    }
    const out = path.join(dir, 'script-dummy.ko');
    fs.writeFileSync(out, dummy);
    const r = script('firmware-sign-module.sh', [MACHINE, 'sha512', out], daemon.port);
    t.equal(r.code, 0, r.out);
    t.ok(fs.readFileSync(out).equals(readVector('module/dummy.ko.sha512.signed')), 'scripts/firmware-sign-module.sh output equals the sign-file vector');
  });

  t.test('swupdate: RSA identical to openssl dgst -sign; RSA-PSS with the maximum salt; CMS (RSA and P-256) accepted by swupdate -c', async (t) => {
    const sign = async (distro: string, method: string): Promise<Buffer> =>
      Buffer.from(okValue(await request(daemon.port, `SWUPDATE ${distro} ${method} ${description.toString('base64')}`)), 'base64');
    t.ok((await sign(DISTRO, 'RSA')).equals(readVector('swupdate/sw-description.rsa.sig')), 'RSA equals the openssl vector');
    const pub = pubOf(path.join(fileRoot, DISTRO, 'swupdate/rsa-private.key'));
    fs.writeFileSync(path.join(dir, 'sw-description'), description);
    fs.writeFileSync(path.join(dir, 'pss.sig'), await sign(DISTRO, 'RSA-PSS'));
    const pss = (salt: string) =>
      tool(
        'openssl',
        ['dgst', '-sha256', '-verify', pub, '-sigopt', 'rsa_padding_mode:pss', '-sigopt', `rsa_pss_saltlen:${salt}`, '-signature', 'pss.sig', 'sw-description'],
        { cwd: dir },
      );
    t.match(pss('-2').out, /Verified OK/, 'PSS verifies (auto salt, as swupdate)');
    t.match(pss('222').out, /Verified OK/, 'the salt is the maximum, 256 - 32 - 2, as meta-swupdate signs');
    for (const distro of [DISTRO, EC_CMS_DISTRO]) {
      const cert = path.join(fileRoot, distro, 'swupdate/cms.cert');
      const sig = await sign(distro, 'CMS');
      const good = swupdateCheck(buildSwu(dir, `good-${distro}`, description, sig), cert);
      t.ok(good.accepted, `${distro}: swupdate -c accepted the .swu:\n${good.out}`);
      const changed = Buffer.from(description.toString().replace('signerd test image', 'signerd test imagX'));
      t.notOk(swupdateCheck(buildSwu(dir, `bad-${distro}`, changed, sig), cert).accepted, `${distro}: a changed sw-description is refused`);
      fs.writeFileSync(path.join(dir, `cms-${distro}.sig`), sig);
      const v = cmsVerify(`cms-${distro}.sig`, 'sw-description', cert, { cwd: dir });
      t.match(v.out, /Verification successful/, `${distro}: openssl cms -verify`);
    }
  });

  t.test('Mender: RSA identical to openssl; P-256 raw r||s; mender-artifact validate -k on script-signed artifacts', async (t) => {
    const rsa = okValue(await request(daemon.port, `MENDER ${RSA_MENDER_DISTRO} ${manifest.toString('base64')}`));
    t.equal(rsa, readVector('mender/manifest.sig.rsa').toString(), 'RSA manifest.sig equals openssl dgst -sign | base64');
    const ecPub = crypto.createPublicKey(fs.readFileSync(pubOf(path.join(fileRoot, DISTRO, 'mender/private.key'))));
    const ec = Buffer.from(okValue(await request(daemon.port, `MENDER ${DISTRO} ${manifest.toString('base64')}`)), 'base64');
    t.equal(ec.length, 64);
    t.ok(crypto.verify('sha256', manifest, { key: ecPub, dsaEncoding: 'ieee-p1363' }, ec), 'P-256 r||s verifies');
    t.ok(BigInt('0x' + ec.subarray(32).toString('hex')) <= P256_HALF_N, 'low S (harmless for Mender)');
    for (const distro of [RSA_MENDER_DISTRO, DISTRO]) {
      const pub = pubOf(path.join(fileRoot, distro, 'mender/private.key'));
      const rootfs = path.join(dir, `rootfs-${distro}.ext4`);
      fs.writeFileSync(rootfs, crypto.randomBytes(8000));
      const unsigned = path.join(dir, `unsigned-${distro}.mender`);
      const w = tool('mender-artifact', ['write', 'rootfs-image', '-n', `hsm-${distro}`, '-t', 'qemux86-64', '-f', rootfs, '-o', unsigned, '--no-progress']);
      t.equal(w.code, 0, w.out);
      const signed = path.join(dir, `signed-${distro}.mender`);
      const r = script('firmware-sign-mender.sh', [distro, unsigned, signed], daemon.port);
      t.equal(r.code, 0, r.out);
      const v = tool('mender-artifact', ['validate', signed, '-k', pub]);
      t.equal(v.code, 0, v.out);
      t.match(v.out, /validated successfully/, `${distro}: mender-artifact validate -k`);
    }
  });

  t.test('OP-TEE: PKCS#1 .ta byte-identical to the openssl-made vector; PSS salt 32 verified by openssl pkeyutl', async (t) => {
    const elf = path.join(dir, `${UUID}.stripped.elf`);
    fs.writeFileSync(elf, readVector(`optee/${UUID}.stripped.elf`));
    const out = path.join(dir, 'pkcs1.ta');
    const r = script('firmware-sign-optee.sh', [MACHINE, 'PKCS1', UUID, '7', elf, out], daemon.port);
    t.equal(r.code, 0, r.out);
    t.ok(fs.readFileSync(out).equals(readVector(`optee/${UUID}.pkcs1.v7.ta`)), 'identical to the vector');
    const digest = crypto.randomBytes(32);
    fs.writeFileSync(path.join(dir, 'pss.dig'), digest);
    fs.writeFileSync(
      path.join(dir, 'optee-pss.sig'),
      Buffer.from(okValue(await request(daemon.port, `OPTEE ${MACHINE} PSS ${digest.toString('hex')}`)), 'base64'),
    );
    const pub = pubOf(path.join(fileRoot, MACHINE, 'opteesign/optee-signing-key.pem'));
    const verify = (salt: string) => pssDigestVerify(pub, 'pss.dig', 'optee-pss.sig', salt, dir);
    t.match(verify('32').out, /Signature Verified Successfully/, 'salt 32');
    t.notMatch(verify('222').out, /Signature Verified Successfully/, 'not the maximum salt');
  });

  t.test("in process: whole-module and whole-TA flows (the HTTP front end's) equal the file keys' output", async (t) => {
    const root = await openHsmKeyRoot(t, hsmRoot, token);
    t.ok(
      (await signModule(root.signer(MACHINE, 'kmodsign'), 'sha256', dummy)).equals(readVector('module/dummy.ko.sha256.signed')),
      'signModule equals sign-file',
    );
    const ta = { uuid: UUID, version: 7, elf: readVector(`optee/${UUID}.stripped.elf`), algo: 'PKCS1' as const };
    t.ok((await signTa(root.signer(MACHINE, 'opteesign'), ta)).equals(readVector(`optee/${UUID}.pkcs1.v7.ta`)), 'signTa equals the vector');
    const d32 = crypto.randomBytes(32);
    t.equal(
      await signMenderDigest(root.signer(RSA_MENDER_DISTRO, 'mender'), d32),
      await signMenderDigest(fileKeys.signer(RSA_MENDER_DISTRO, 'mender'), d32),
      'Mender RSA digest flow: same as the file key',
    );
    t.ok(
      (await signTaDigest(root.signer(MACHINE, 'opteesign'), 'PKCS1', d32)).equals(await signTaDigest(fileKeys.signer(MACHINE, 'opteesign'), 'PKCS1', d32)),
      'OP-TEE PKCS#1: same as the file key',
    );
    const fit = readVector('fit/simple.itb');
    // Any version-17 device tree takes the key node; the FIT vector itself serves as U-Boot's dtb here.
    const fitOptions = {
      algo: null,
      comment: null,
      timestamp: 1_764_979_200,
      signerName: 'signerd',
      signerVersion: 'test',
      keyDestination: fit,
      requireKeys: true,
    };
    const fromHsm = await signFitImage(fit, () => root.signer(MACHINE, 'fitimagesign'), fitOptions);
    const fromFile = await signFitImage(fit, () => fileKeys.signer(MACHINE, 'fitimagesign'), fitOptions);
    t.ok(fromHsm.image.equals(fromFile.image), 'U-Boot FIT: same bytes as the file key');
    t.ok(fromHsm.keyDestination?.equals(fromFile.keyDestination!), "and the same key node in U-Boot's device tree (the HSM key's public half)");
    t.notOk('privateKey' in root.signer(MACHINE, 'opteesign'), 'an HSM-held key is reached only through its signer: no private key object anywhere');
  });
});
