// NXP HAB4 CSF built in process, checked by tools no one here wrote: the SRK table and fuse hash equal
// srktool's; Debian's csf_parser parses the CSF and extracts the SRK table, both certificates and both
// signatures; openssl cms -verify accepts the CSF signature over header+commands and the image
// signature over the Blocks (CSF/IMG certificate, SRK as trust anchor); a flipped image byte fails.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { buildHabCsf, parseCsfText, srkFuseHash, srkTable } from '../../../daemons/firmware/formats/hab4-csf.js';
import { loadCertificate } from '../../../daemons/firmware/keys/certificate.js';
import { fileSigner } from '../../../daemons/firmware/keys/file-key.js';
import { describePublicKey } from '../../../daemons/firmware/keys/key-facts.js';
import type { DigestSigner } from '../../../daemons/firmware/formats/digest-signer.js';
import { codeOf } from '../../helpers/error-codes.js';
import { needTools } from '../../helpers/tools.js';
import { tool } from './line-fixtures.js';

const CSF_TEXT = (blocks: string, extra = '') => `[Header]
    Version = 4.3
    Hash Algorithm = sha256
    Engine = CAAM
    Engine Configuration = 0
    Certificate Format = X509
    Signature Format = CMS

[Install SRK]
    File = "../crts/SRK_1_2_3_4_table.bin"
    Source index = 0

[Install CSFK]
    File = "../crts/CSF1_1_sha256_2048_65537_v3_usr_crt.pem"

[Authenticate CSF]

[Unlock]
    Engine = CAAM
    Features = MID
${extra}
[Install Key]
    Verification index = 0
    Target Index = 2
    File = "../crts/IMG1_1_sha256_2048_65537_v3_usr_crt.pem"

[Authenticate Data]
    Verification index = 2
    Blocks = ${blocks}
`;

function openssl(args: string[], cwd: string): void {
  const r = tool('openssl', args, { cwd });
  if (r.code !== 0) throw new Error(`openssl ${args[0]}: ${r.out}`);
}

/** An NXP-style PKI: four SRK CAs, CSF1 and IMG1 certificates issued by SRK1 (RSA-2048). */
function makePki(dir: string): { csf: DigestSigner; img: DigestSigner; srks: crypto.X509Certificate[] } {
  for (let i = 1; i <= 4; i++) {
    openssl(
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        `srk${i}.key`,
        '-out',
        `srk${i}.crt`,
        '-days',
        '3650',
        '-subj',
        `/CN=SRK${i}`,
        '-addext',
        'basicConstraints=critical,CA:true',
      ],
      dir,
    );
    openssl(['x509', '-in', `srk${i}.crt`, '-outform', 'DER', '-out', `srk${i}.der`], dir);
  }
  fs.writeFileSync(path.join(dir, 'usr.cnf'), '[usr]\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n');
  const signer = (name: string): DigestSigner => {
    openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`], dir);
    openssl(
      [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'srk1.crt',
        '-CAkey',
        'srk1.key',
        '-set_serial',
        '7',
        '-out',
        `${name}.crt`,
        '-days',
        '3650',
        '-extfile',
        'usr.cnf',
        '-extensions',
        'usr',
      ],
      dir,
    );
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
  const pki = makePki(dir);

  const table = srkTable(pki.srks);
  const made = tool('srktool', ['-h', '4', '-t', 'table.bin', '-e', 'fuse.bin', '-d', 'sha256', '-c', 'srk1.der,srk2.der,srk3.der,srk4.der', '-f', '1'], {
    cwd: dir,
  });
  t.equal(made.code, 0, made.out);
  t.ok(table.equals(fs.readFileSync(path.join(dir, 'table.bin'))), 'SRK table byte-identical to srktool');
  t.ok(srkFuseHash(table).equals(fs.readFileSync(path.join(dir, 'fuse.bin'))), 'SRK fuse hash equal to srktool -e');

  const image = crypto.randomBytes(200_000);
  const request = parseCsfText(CSF_TEXT('0x7e0fc0 0x0 0x2a600 "flash.bin", \\\n             0x7e2000 0x2b000 0x1000 "flash.bin"'));
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
  const verify = (sig: string, content: string, cert: string) =>
    tool(
      'openssl',
      [
        'cms',
        '-verify',
        '-binary',
        '-inform',
        'DER',
        '-in',
        out(sig),
        '-content',
        content,
        '-certfile',
        cert,
        '-CAfile',
        'srk1.crt',
        '-partial_chain',
        '-purpose',
        'any',
        '-out',
        '/dev/null',
      ],
      { cwd: dir },
    ).code === 0;
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
      'version 3.0': CSF_TEXT('0x0 0x0 0x10 "flash.bin"').replace('Version = 4.3', 'Version = 3.0'),
      sha1: CSF_TEXT('0x0 0x0 0x10 "flash.bin"').replace('Hash Algorithm = sha256', 'Hash Algorithm = sha1'),
      'SRK index 4': CSF_TEXT('0x0 0x0 0x10 "flash.bin"').replace('Source index = 0', 'Source index = 4'),
      'target index 9': CSF_TEXT('0x0 0x0 0x10 "flash.bin"').replace('Target Index = 2', 'Target Index = 9'),
      'unknown feature': CSF_TEXT('0x0 0x0 0x10 "flash.bin"').replace('Features = MID', 'Features = XYZ'),
      'address beyond 32 bits': CSF_TEXT('0x100000000 0x0 0x10 "flash.bin"'),
      'two files': CSF_TEXT('0x0 0x0 0x10 "flash.bin", 0x0 0x0 0x10 "other.bin"'),
      'zero length': CSF_TEXT('0x0 0x0 0x0 "flash.bin"'),
      'extra section': CSF_TEXT('0x0 0x0 0x10 "flash.bin"', '[Install Secret Key]\n    Verification index = 0\n'),
      'no sections': 'Version = 4.3\n',
    };
    for (const [name, text] of Object.entries(bad))
      t.equal(
        codeOf(() => parseCsfText(text)),
        'BAD_REQUEST',
        name,
      );
    const outside = parseCsfText(CSF_TEXT('0x0 0x30000 0x1000 "flash.bin"'));
    await t.rejects(buildHabCsf(outside, image, { srkTable: table, csf: pki.csf, img: pki.img }), { code: 'BAD_REQUEST' }, 'a block outside the file');
  });
});
