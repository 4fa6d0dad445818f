// NXP HAB4 CSF built in process, checked by tools no one here wrote: the SRK table and fuse hash equal
// srktool's; Debian's csf_parser parses the CSF and extracts the SRK table, both certificates and both
// signatures; openssl cms -verify accepts the CSF signature over header+commands and the image
// signature over the Blocks (CSF/IMG certificate, SRK as trust anchor); a flipped image byte fails.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { signCmsDigest } from '../../../daemons/firmware/formats/cms.js';
import { buildHabCsf, parseCsfText, srkFuseHash, srkTable } from '../../../daemons/firmware/formats/hab4-csf.js';
import { loadCertificate } from '../../../daemons/firmware/keys/certificate.js';
import { openKeyRoot } from '../../../daemons/firmware/keys/key-root.js';
import { fileSigner } from '../../../daemons/firmware/keys/file-key.js';
import { describePublicKey } from '../../../daemons/firmware/keys/key-facts.js';
import type { DigestSigner } from '../../../daemons/firmware/formats/digest-signer.js';
import { codeOf } from '../../helpers/error-codes.js';
import { needTools } from '../../helpers/tools.js';
import { csfText, habSignatureVerifies, makeHabPki } from './hab-fixtures.js';
import { tool } from './line-fixtures.js';

/** The CSF and IMG keys of a HAB PKI directory as the key seam sees them, and its SRK certificates. */
function loadPki(dir: string): { csf: DigestSigner; img: DigestSigner; srks: crypto.X509Certificate[] } {
  const signer = (name: string): DigestSigner => {
    const key = crypto.createPrivateKey(fs.readFileSync(path.join(dir, `${name}.key`)));
    const facts = describePublicKey(crypto.createPublicKey(key));
    if (facts.type === 'other') throw new Error('not a usable key');
    return fileSigner(key, facts, loadCertificate(path.join(dir, `${name}.crt`)));
  };
  const srks = [1, 2, 3, 4].map((i) => new crypto.X509Certificate(fs.readFileSync(path.join(dir, `srk${i}.crt`))));
  return { csf: signer('csf'), img: signer('img'), srks };
}

t.test('HAB4 CSF against srktool, csf_parser and openssl cms', needTools('srktool', 'csf_parser', 'openssl'), async (t) => {
  const dir = t.testdir({});
  const pki = loadPki(makeHabPki(dir));

  const table = srkTable(pki.srks);
  const made = tool('srktool', ['-h', '4', '-t', 'table.bin', '-e', 'fuse.bin', '-d', 'sha256', '-c', 'srk1.der,srk2.der,srk3.der,srk4.der', '-f', '1'], {
    cwd: dir,
  });
  t.equal(made.code, 0, made.out);
  t.ok(table.equals(fs.readFileSync(path.join(dir, 'table.bin'))), 'SRK table byte-identical to srktool');
  t.ok(srkFuseHash(table).equals(fs.readFileSync(path.join(dir, 'fuse.bin'))), 'SRK fuse hash equal to srktool -e');

  const image = crypto.randomBytes(200_000);
  const request = parseCsfText(csfText('0x7e0fc0 0x0 0x2a600 "flash.bin", \\\n             0x7e2000 0x2b000 0x1000 "flash.bin"'));
  const csf = await buildHabCsf(request, image, { srkTable: table, csf: pki.csf, img: pki.img });
  fs.writeFileSync(path.join(dir, 'csf.bin'), csf);
  const parsed = tool('csf_parser', ['-c', 'csf.bin'], { cwd: dir });
  t.equal(parsed.code, 0, parsed.out);
  const out = (name: string) => path.join(dir, 'output', name);
  t.ok(fs.readFileSync(out('SRKTable.bin')).equals(table), 'csf_parser extracts the SRK table');
  const certs = ['cert0.der', 'cert1.der'].map((c) => new crypto.X509Certificate(fs.readFileSync(out(c))).subject);
  t.same(certs.sort(), ['CN=csf', 'CN=img'], 'and both certificates');
  const report = fs.readFileSync(out('parsed_output.txt'), 'utf8');
  t.match(report, /UNLOCK_CAAM_MID/, 'the Unlock command');

  const commandsBytes = csf.readUInt16BE(1);
  fs.writeFileSync(path.join(dir, 'commands.bin'), csf.subarray(0, commandsBytes));
  fs.writeFileSync(path.join(dir, 'blocks.bin'), Buffer.concat([image.subarray(0, 0x2a600), image.subarray(0x2b000, 0x2c000)]));
  const flipped = Buffer.from(fs.readFileSync(path.join(dir, 'blocks.bin')));
  flipped.writeUInt8(flipped[1234]! ^ 1, 1234);
  fs.writeFileSync(path.join(dir, 'flipped.bin'), flipped);
  const verify = (sig: string, content: string, cert: string) => habSignatureVerifies(out(sig), content, cert, 'srk1.crt', dir);
  const sigs = ['sig0.bin', 'sig1.bin'];
  t.ok(
    sigs.some((s) => verify(s, 'commands.bin', 'csf.crt')),
    'one signature verifies over header+commands with the CSF certificate',
  );
  const imageSig = sigs.find((s) => verify(s, 'blocks.bin', 'img.crt'));
  t.ok(imageSig, 'one verifies over the Blocks with the IMG certificate');
  t.notOk(verify(imageSig!, 'flipped.bin', 'img.crt'), 'a flipped image byte fails');
  t.notOk(verify(imageSig!, 'blocks.bin', 'csf.crt'), 'and not with the other certificate');

  t.test('CSF parameters out of range or unknown are refused', async (t) => {
    const bad: Record<string, string> = {
      'version 3.0': csfText('0x0 0x0 0x10 "flash.bin"').replace('Version = 4.3', 'Version = 3.0'),
      sha1: csfText('0x0 0x0 0x10 "flash.bin"').replace('Hash Algorithm = sha256', 'Hash Algorithm = sha1'),
      'SRK index 4': csfText('0x0 0x0 0x10 "flash.bin"').replace('Source index = 0', 'Source index = 4'),
      'target index 9': csfText('0x0 0x0 0x10 "flash.bin"').replace('Target Index = 2', 'Target Index = 9'),
      'unknown feature': csfText('0x0 0x0 0x10 "flash.bin"').replace('Features = MID', 'Features = XYZ'),
      'address beyond 32 bits': csfText('0x100000000 0x0 0x10 "flash.bin"'),
      'two files': csfText('0x0 0x0 0x10 "flash.bin", 0x0 0x0 0x10 "other.bin"'),
      'zero length': csfText('0x0 0x0 0x0 "flash.bin"'),
      'extra section': csfText('0x0 0x0 0x10 "flash.bin"', '[Install Secret Key]\n    Verification index = 0\n'),
      'no sections': 'Version = 4.3\n',
    };
    for (const [name, text] of Object.entries(bad))
      t.equal(
        codeOf(() => parseCsfText(text)),
        'BAD_REQUEST',
        name,
      );
    const outside = parseCsfText(csfText('0x0 0x30000 0x1000 "flash.bin"'));
    await t.rejects(buildHabCsf(outside, image, { srkTable: table, csf: pki.csf, img: pki.img }), { code: 'BAD_REQUEST' }, 'a block outside the file');
  });
});

t.test('Blocks may cover at most twice the file: 64 Blocks over the whole image are refused', needTools('openssl'), async (t) => {
  // The audit's amplification: each Block names the whole image, so the image signature covered 64
  // copies of it (1.14 GB RSS for 16 MiB, a RangeError at 64 MiB). Now refused before any hashing.
  const pki = loadPki(makeHabPki(t.testdir({})));
  const keys = { srkTable: srkTable(pki.srks), csf: pki.csf, img: pki.img };
  const image = crypto.randomBytes(1024 * 1024);
  const whole = `0x40000000 0x0 ${image.length} "flash.bin"`;
  const amplified = parseCsfText(csfText(Array(64).fill(whole).join(', ')));
  await t.rejects(buildHabCsf(amplified, image, keys), { code: 'BAD_REQUEST', message: /cover 67108864 bytes, more than 2 times the 1048576-byte file/ });
  const twice = parseCsfText(csfText(`${whole}, ${whole}, 0x0 0x0 0x1 "flash.bin"`));
  await t.rejects(buildHabCsf(twice, image, keys), { code: 'BAD_REQUEST' }, 'one byte past twice');
  // Overlapping Blocks up to the bound still sign, over the Blocks in order.
  const overlapping = parseCsfText(csfText(`${whole}, 0x40000000 0x0 0x1000 "flash.bin"`));
  const time = new Date('2026-01-02T03:04:05Z');
  const csf = await buildHabCsf(overlapping, image, keys, time);
  const imgSig = await signCmsDigest(
    pki.img,
    crypto
      .createHash('sha256')
      .update(Buffer.concat([image, image.subarray(0, 0x1000)]))
      .digest(),
    { signingTime: time, includeCertificate: false },
  );
  t.ok(csf.includes(imgSig), 'the image signature is the CMS over the concatenated Blocks, byte for byte');
});

t.test('key root: <machine>/imxsign/ needs both keys and their issuing SRK', needTools('openssl'), async (t) => {
  const base = t.testdir({});
  const pki = makeHabPki(path.join(base, 'pki'));
  const other = makeHabPki(path.join(base, 'other'));
  const rootWith = (name: string, files: Record<string, string>): string => {
    const dir = path.join(base, name, 'imx8mm-evk', 'imxsign');
    fs.mkdirSync(dir, { recursive: true });
    for (const [to, from] of Object.entries(files)) fs.copyFileSync(from, path.join(dir, to));
    return path.join(base, name);
  };
  const keys = (from: string) => ({ 'csf.key': `${from}/csf.key`, 'csf.crt': `${from}/csf.crt`, 'img.key': `${from}/img.key`, 'img.crt': `${from}/img.crt` });
  const srks = (from: string, n: number) => Object.fromEntries([1, 2, 3, 4].slice(0, n).map((i) => [`srk${i}.crt`, `${from}/srk${i}.crt`]));

  const root = await openKeyRoot(rootWith('good', { ...keys(pki), ...srks(pki, 2) }), { callMsMax: 5_000 });
  t.teardown(() => root.close());
  t.equal(root.habSrks('imx8mm-evk').certificates.length, 2);
  t.equal(root.habSrks('imx8mm-evk').issuerIndex, 0);
  t.ok(root.signer('imx8mm-evk', 'imxsign-img').certificate);
  t.same(root.entries(), [{ selector: 'imx8mm-evk', signType: 'imxsign' }]);

  const refused: Record<string, Record<string, string>> = {
    'IMG key missing': { 'csf.key': `${pki}/csf.key`, 'csf.crt': `${pki}/csf.crt`, ...srks(pki, 4) },
    'no SRK certificates': keys(pki),
    'a gap in the SRK table': { ...keys(pki), 'srk1.crt': `${pki}/srk1.crt`, 'srk3.crt': `${pki}/srk3.crt` },
    'keys issued by no SRK of the table': { ...keys(other), ...srks(pki, 4) },
    'CSF and IMG keys from different SRKs': {
      ...keys(pki),
      'img.key': `${other}/img.key`,
      'img.crt': `${other}/img.crt`,
      ...srks(pki, 4),
      'srk2.crt': `${other}/srk1.crt`,
    },
  };
  for (const [name, files] of Object.entries(refused))
    await t.rejects(openKeyRoot(rootWith(name.replace(/\W+/g, '-'), files), { callMsMax: 5_000 }), { code: 'KEY_LOAD_FAILED' }, name);
});
