// Mender manifest signatures over the line protocol: scripts/firmware-sign-mender.sh signs real
// artifacts end to end and the real `mender-artifact validate -k` accepts them (RSA and ECDSA P-256).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { request } from '../../helpers/line-client.js';
import { needTools } from '../../helpers/tools.js';
import { copyKeyRoot, DISTRO, okValue, readVector, RSA_MENDER_DISTRO, script, startFirmware, tool, vector } from './line-fixtures.js';

const tools = needTools('openssl', 'nc', 'tar', 'mender-artifact');

t.test('Mender through the line protocol', tools, async (t) => {
  const dir = t.testdir({});
  const keyRoot = copyKeyRoot(dir);
  const daemon = await startFirmware(keyRoot);
  t.teardown(() => daemon.stop());
  const pubOf = (distro: string) => {
    const file = path.join(dir, `${distro}.pub`);
    fs.writeFileSync(file, tool('openssl', ['pkey', '-in', path.join(keyRoot, distro, 'mender/private.key'), '-pubout']).stdout);
    return file;
  };
  const pubs: Record<string, string> = { [DISTRO]: pubOf(DISTRO), [RSA_MENDER_DISTRO]: pubOf(RSA_MENDER_DISTRO) };
  const manifest = readVector('mender/manifest');

  t.test('RSA manifest.sig equals openssl dgst -sign | base64', async (t) => {
    const sig = okValue(await request(daemon.port, `MENDER ${RSA_MENDER_DISTRO} ${manifest.toString('base64')}`));
    t.equal(sig, readVector('mender/manifest.sig.rsa').toString());
    const digest = crypto.createHash('sha256').update(manifest).digest('hex');
    t.equal(okValue(await request(daemon.port, `MENDER-DIGEST ${RSA_MENDER_DISTRO} ${digest}`)), sig, 'digest flow gives the same signature');
  });

  t.test('ECDSA P-256: raw r||s verified by node:crypto (ieee-p1363); the digest flow is RFC 6979 deterministic', async (t) => {
    const sig = okValue(await request(daemon.port, `MENDER ${DISTRO} ${manifest.toString('base64')}`));
    const raw = Buffer.from(sig, 'base64');
    t.equal(raw.length, 64);
    t.equal(sig.length, 88);
    const pub = crypto.createPublicKey(fs.readFileSync(pubs[DISTRO]!));
    t.ok(crypto.verify('sha256', manifest, { key: pub, dsaEncoding: 'ieee-p1363' }, raw));
    const digest = crypto.createHash('sha256').update(manifest).digest('hex');
    const viaDigest = okValue(await request(daemon.port, `MENDER-DIGEST ${DISTRO} ${digest}`));
    t.ok(crypto.verify('sha256', manifest, { key: pub, dsaEncoding: 'ieee-p1363' }, Buffer.from(viaDigest, 'base64')), 'digest flow verifies');
    t.equal(okValue(await request(daemon.port, `MENDER-DIGEST ${DISTRO} ${digest}`)), viaDigest, 'RFC 6979: same digest, same signature');
  });

  for (const distro of [RSA_MENDER_DISTRO, DISTRO]) {
    t.test(`scripts/firmware-sign-mender.sh (${distro}): mender-artifact validate -k accepts it`, async (t) => {
      const unsigned = path.join(dir, `unsigned-${distro}.mender`);
      const rootfs = path.join(dir, `rootfs-${distro}.ext4`);
      fs.writeFileSync(rootfs, crypto.randomBytes(20_000));
      const w = tool('mender-artifact', ['write', 'rootfs-image', '-n', `release-${distro}`, '-t', 'qemux86-64', '-f', rootfs, '-o', unsigned, '--no-progress']);
      t.equal(w.code, 0, w.out);
      const signed = path.join(dir, `signed-${distro}.mender`);
      const r = script('firmware-sign-mender.sh', [distro, unsigned, signed], daemon.port);
      t.equal(r.code, 0, r.out);
      const v = tool('mender-artifact', ['validate', signed, '-k', pubs[distro]!]);
      t.equal(v.code, 0, v.out);
      t.match(v.out, /validated successfully/);
      const other = distro === DISTRO ? pubs[RSA_MENDER_DISTRO]! : pubs[DISTRO]!;
      t.not(tool('mender-artifact', ['validate', signed, '-k', other]).code, 0, 'the other key does not validate it');
      t.not(tool('mender-artifact', ['validate', unsigned, '-k', pubs[distro]!]).code, 0, 'the unsigned input does not validate');
      const again = script('firmware-sign-mender.sh', [distro, signed, path.join(dir, 'twice.mender')], daemon.port);
      t.not(again.code, 0, 'an already signed artifact is refused');
      t.notOk(fs.existsSync(path.join(dir, 'twice.mender')));
    });
  }

  t.test('the committed artifact signs too', async (t) => {
    const signed = path.join(dir, 'vector-signed.mender');
    const r = script('firmware-sign-mender.sh', [RSA_MENDER_DISTRO, vector('mender/unsigned.mender'), signed], daemon.port);
    t.equal(r.code, 0, r.out);
    t.equal(tool('tar', ['-xOf', signed, 'manifest.sig']).stdout.toString(), readVector('mender/manifest.sig.rsa').toString());
    t.equal(tool('mender-artifact', ['validate', signed, '-k', pubs[RSA_MENDER_DISTRO]!]).code, 0);
  });

  t.test('bad Mender requests', async (t) => {
    t.match(await request(daemon.port, `MENDER ${DISTRO} ${Buffer.from('not a manifest\n').toString('base64')}`), /^ERR BAD_REQUEST manifest lines/);
    t.match(await request(daemon.port, `MENDER ${DISTRO} ${Buffer.from(manifest.toString().trimEnd()).toString('base64')}`), /^ERR BAD_REQUEST manifest must end/);
    t.match(await request(daemon.port, `MENDER-DIGEST ${DISTRO} ${'00'.repeat(31)}`), /^ERR BAD_REQUEST .*32 bytes/);
    t.match(await request(daemon.port, `MENDER qemux86-64 ${manifest.toString('base64')}`), /^ERR UNKNOWN_KEY /);
    t.equal(await request(daemon.port, 'PING'), 'OK PONG');
  });
});
