// UEFI signatures in-process against the real tools on Debian's systemd-boot PE images: the
// Authenticode hash equals osslsigncode's; the signed image and the detached PKCS#7 are byte-identical
// to sbsign's from the same second, and NVIDIA's detached CMS to `openssl cms -sign -binary`'s;
// sbverify and osslsigncode accept ours; malformed or already-signed images are refused.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { signAuthenticodeDigest, signPeImage } from '../../../daemons/firmware/formats/authenticode.js';
import { signCmsDigest } from '../../../daemons/firmware/formats/cms.js';
import { authenticodeDigest, parsePe } from '../../../daemons/firmware/formats/pe-image.js';
import { openKeyRoot } from '../../../daemons/firmware/keys/key-root.js';
import { codeOf } from '../../helpers/error-codes.js';
import { needTools } from '../../helpers/tools.js';
import { copyKeyRoot, MACHINE, tool } from './line-fixtures.js';
import { PE_IMAGES, signingTimeOf } from './uefi-fixtures.js';

t.test('UEFI formats against sbsign, osslsigncode and openssl', needTools('sbsign', 'sbverify', 'osslsigncode', 'openssl'), async (t) => {
  const dir = t.testdir({});
  const keyRoot = copyKeyRoot(dir);
  const root = await openKeyRoot(keyRoot, { callMsMax: 5_000 });
  t.teardown(() => root.close());
  const signer = root.signer(MACHINE, 'uefisign');
  const key = path.join(keyRoot, MACHINE, 'uefisign/db.key');
  const cert = path.join(keyRoot, MACHINE, 'uefisign/db.crt');

  for (const pe of PE_IMAGES) {
    t.test(path.basename(pe), async (t) => {
      const image = fs.readFileSync(pe);
      const name = path.basename(pe);
      const hash = authenticodeDigest(image);
      const extracted = tool('osslsigncode', ['extract-data', '-h', 'sha256', '-in', pe, '-out', path.join(dir, `${name}.data.p7`)]);
      t.equal(extracted.code, 0, extracted.out);
      t.ok(fs.readFileSync(path.join(dir, `${name}.data.p7`)).includes(hash), "the image hash is the one in osslsigncode's SpcIndirectDataContent");

      const refImage = path.join(dir, `${name}.sbsign`);
      const r = tool('sbsign', ['--key', key, '--cert', cert, '--output', refImage, pe]);
      t.equal(r.code, 0, r.out);
      const reference = fs.readFileSync(refImage);
      const ours = await signPeImage(signer, image, signingTimeOf(reference));
      t.ok(ours.equals(reference), 'signed image byte-identical to sbsign (same key, same signingTime)');
      const oursFile = path.join(dir, `${name}.ours`);
      fs.writeFileSync(oursFile, ours);
      t.match(tool('sbverify', ['--cert', cert, oursFile]).out, /Signature verification OK/, 'sbverify --cert accepts it');
      const v = tool('osslsigncode', ['verify', '-in', oursFile, '-CAfile', cert]);
      t.equal(v.code, 0, 'osslsigncode verify accepts it');
      t.match(v.out, new RegExp(`Calculated message digest : ${hash.toString('hex').toUpperCase()}`));

      const refDetached = path.join(dir, `${name}.p7`);
      t.equal(tool('sbsign', ['--key', key, '--cert', cert, '--detached', '--output', refDetached, pe]).code, 0);
      const detached = fs.readFileSync(refDetached);
      t.ok((await signAuthenticodeDigest(signer, hash, signingTimeOf(detached))).equals(detached), 'detached PKCS#7 byte-identical to sbsign --detached');
    });
  }

  t.test("NVIDIA's detached CMS equals openssl cms -sign -binary", async (t) => {
    const file = PE_IMAGES[0]!;
    const out = path.join(dir, 'ref.sig');
    const r = tool('openssl', ['cms', '-sign', '-signer', cert, '-inkey', key, '-binary', '-in', file, '-outform', 'der', '-out', out]);
    t.equal(r.code, 0, r.out);
    const reference = fs.readFileSync(out);
    const sha = crypto.createHash('sha256').update(fs.readFileSync(file)).digest();
    t.ok((await signCmsDigest(signer, sha, { signingTime: signingTimeOf(reference), smimeCapabilities: true })).equals(reference), 'byte-identical');
  });

  t.test('malformed and signed images are refused', async (t) => {
    const image = fs.readFileSync(PE_IMAGES[0]!);
    const pe = image.readUInt32LE(0x3c);
    const cases: Record<string, Buffer> = {
      empty: Buffer.alloc(0),
      'not MZ': Buffer.from('#!/bin/sh\necho hello, not a PE image at all, just some text padding it out\n'),
      'truncated in the headers': image.subarray(0, pe + 40),
      'truncated in a section': image.subarray(0, 4096),
      'e_lfanew outside': Buffer.concat([image.subarray(0, 0x3c), Buffer.from([0xff, 0xff, 0xff, 0x7f]), image.subarray(0x40)]),
    };
    for (const [name, bad] of Object.entries(cases)) {
      t.equal(
        codeOf(() => parsePe(bad)),
        'BAD_REQUEST',
        name,
      );
      await t.rejects(signPeImage(signer, bad), { code: 'BAD_REQUEST' }, name);
    }
    // Section headers: 40 bytes each after the optional header; SizeOfRawData at +16, PointerToRawData at +20.
    const sectionAt = (i: number): number => pe + 24 + image.readUInt16LE(pe + 20) + i * 40;
    const overlapping = Buffer.from(image);
    overlapping.writeUInt32LE(image.readUInt32LE(sectionAt(0) + 20), sectionAt(2) + 20);
    t.throws(
      () => parsePe(overlapping),
      { code: 'BAD_REQUEST', message: 'not a usable PE/COFF image: sections 0 (".text") and 2 (".data") overlap in the file' },
      'two sections over the same bytes (hashed twice)',
    );
    await t.rejects(signPeImage(signer, overlapping), { code: 'BAD_REQUEST' }, 'two sections over the same bytes, signed');
    const emptyInside = Buffer.from(image);
    emptyInside.writeUInt32LE(0, sectionAt(2) + 16);
    emptyInside.writeUInt32LE(image.readUInt32LE(sectionAt(0) + 20), sectionAt(2) + 20);
    t.doesNotThrow(() => parsePe(emptyInside), 'a section without raw data may point anywhere');
    const signed = await signPeImage(signer, image);
    await t.rejects(signPeImage(signer, signed), { code: 'BAD_REQUEST' }, 'already signed');
    await t.rejects(signAuthenticodeDigest(signer, Buffer.alloc(31)), { code: 'BAD_REQUEST' }, 'digest of the wrong length');
  });
});
