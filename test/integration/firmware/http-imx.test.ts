// /sign/imx driven with curl as digsigserver documents the i.MX call (doc/imxsign-yubihsm.md: machine,
// soctype=mx8m, cstversion, backend, csf=@<file>;type=text/plain, artifact=@<image>, --output <csf.bin>);
// the returned binary CSF checked by Debian's csf_parser (SRK table equal to srktool's, both certificates)
// and openssl cms -verify of both signatures; CSF parameters out of range, traversal in names and the
// other bad input refused with a clear 4xx (501 for AHAB SoCs), and nothing left behind.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { needTools } from '../../helpers/tools.js';
import { DIGSIG_POST_ARGS } from './build-clients.js';
import { csfText, habSignatureVerifies, makeHabPki } from './hab-fixtures.js';
import { MACHINE, curlPost, leftovers, run, startFirmwareDaemon } from './http-fixtures.js';

/** A machine whose SRK table holds only srk1.crt. */
const ONE_SRK_MACHINE = 'imx-one-srk';
const IMAGE = 'imx-boot-imx8mm-sd.bin-flash_evk';
const BLOCKS = `0x401fcdc0 0x57c00 0x1000 "${IMAGE}", 0x40200000 0x58c00 0x9aad0 "${IMAGE}"`;

/** The class call: `curl ${DIGSIG_POST_ARGS} --silent --fail -X POST -F ... --output <out> <url>/sign/imx`. */
function imxForm(csf: string, opts: { machine?: string; soctype?: string; cstversion?: string; backend?: string; artifact?: string } = {}): string[] {
  const fields = {
    machine: opts.machine ?? MACHINE,
    soctype: opts.soctype ?? 'mx8m',
    cstversion: opts.cstversion ?? '3.3.2',
    backend: opts.backend ?? 'pkcs11',
  };
  return [
    ...DIGSIG_POST_ARGS,
    ...Object.entries(fields).flatMap(([k, v]) => ['-F', `${k}=${v}`]),
    '-F',
    `csf=@${csf};type=text/plain`,
    '-F',
    `artifact=@${opts.artifact ?? IMAGE}`,
  ];
}

t.test('/sign/imx as digsigserver documents the call', needTools('curl', 'csf_parser', 'srktool', 'openssl'), async (t) => {
  let pki = '';
  const http = await startFirmwareDaemon(t, [], (keyRoot) => {
    // Beside the key root, in the test's directory (private keys of the SRKs stay out of the key root).
    pki = makeHabPki(path.join(path.dirname(keyRoot), 'pki'));
    for (const [machine, srks] of [
      [MACHINE, 4],
      [ONE_SRK_MACHINE, 1],
    ] as const) {
      const dir = path.join(keyRoot, machine, 'imxsign');
      fs.mkdirSync(dir, { recursive: true });
      const files = ['csf.key', 'csf.crt', 'img.key', 'img.crt', ...['srk1.crt', 'srk2.crt', 'srk3.crt', 'srk4.crt'].slice(0, srks)];
      for (const file of files) fs.copyFileSync(path.join(pki, file), path.join(dir, file));
    }
  });
  const work = path.join(http.base, 'work');
  fs.mkdirSync(work);
  const image = crypto.randomBytes(0x58c00 + 0x9aad0 + 0x400);
  fs.writeFileSync(path.join(work, IMAGE), image);
  fs.writeFileSync(path.join(work, 'flash_evk-csf-fit.csf'), csfText(BLOCKS));

  for (const backend of ['pkcs11', 'ssl']) {
    t.test(`backend=${backend}: csf_parser and openssl cms accept the CSF`, async (t) => {
      const out = path.join(work, `csf-${backend}`);
      fs.mkdirSync(out);
      const post = curlPost(`${http.url}/sign/imx`, imxForm('flash_evk-csf-fit.csf', { backend }), { cwd: work, output: path.join(out, 'csf.bin') });
      t.equal(post.code, 0, post.stderr);
      t.equal(post.status, 200);
      const parsed = run('csf_parser', ['-c', 'csf.bin'], { cwd: out });
      t.equal(parsed.code, 0, parsed.stderr);
      const extracted = (name: string) => path.join(out, 'output', name);
      const table = run('srktool', ['-h', '4', '-t', 'table.bin', '-e', 'fuse.bin', '-d', 'sha256', '-c', 'srk1.der,srk2.der,srk3.der,srk4.der', '-f', '1'], {
        cwd: pki,
      });
      t.equal(table.code, 0, table.stderr);
      t.ok(fs.readFileSync(extracted('SRKTable.bin')).equals(fs.readFileSync(path.join(pki, 'table.bin'))), 'the SRK table is srktool’s');
      const subjects = ['cert0.der', 'cert1.der'].map((c) => new crypto.X509Certificate(fs.readFileSync(extracted(c))).subject).sort();
      t.same(subjects, ['CN=csf', 'CN=img'], 'both certificates');

      const csf = fs.readFileSync(path.join(out, 'csf.bin'));
      fs.writeFileSync(path.join(out, 'commands.bin'), csf.subarray(0, csf.readUInt16BE(1)));
      const blocks = Buffer.concat([image.subarray(0x57c00, 0x58c00), image.subarray(0x58c00, 0x58c00 + 0x9aad0)]);
      fs.writeFileSync(path.join(out, 'blocks.bin'), blocks);
      blocks.writeUInt8(blocks[777]! ^ 0x80, 777);
      fs.writeFileSync(path.join(out, 'flipped.bin'), blocks);
      const srk = path.join(pki, 'srk1.crt');
      const sigs = ['sig0.bin', 'sig1.bin'].map(extracted);
      t.ok(
        sigs.some((s) => habSignatureVerifies(s, 'commands.bin', path.join(pki, 'csf.crt'), srk, out)),
        'the CSF signature verifies over header+commands',
      );
      const imageSig = sigs.find((s) => habSignatureVerifies(s, 'blocks.bin', path.join(pki, 'img.crt'), srk, out));
      t.ok(imageSig, 'the image signature verifies over the Blocks');
      t.notOk(habSignatureVerifies(imageSig!, 'flipped.bin', path.join(pki, 'img.crt'), srk, out), 'a flipped image byte fails');
      t.same(await leftovers(http), []);
    });
  }

  t.test('bad input: a clear 4xx (501 for AHAB), curl --fail fails the task, nothing left behind', async (t) => {
    const csf = (name: string, text: string | Buffer) => {
      fs.writeFileSync(path.join(work, name), text);
      return name;
    };
    const good = csf('good.csf', csfText(BLOCKS));
    fs.writeFileSync(path.join(work, 'empty.bin'), '');
    const cases: Array<[string, string[], number]> = [
      ['CSF Version 3.0', imxForm(csf('v3.csf', csfText(BLOCKS).replace('Version = 4.3', 'Version = 3.0'))), 400],
      ['CSF Install SRK Source index 4', imxForm(csf('srk4.csf', csfText(BLOCKS).replace('Source index = 0', 'Source index = 4'))), 400],
      ['CSF names an SRK that did not issue the keys', imxForm(csf('srk1.csf', csfText(BLOCKS).replace('Source index = 0', 'Source index = 1'))), 400],
      [
        'CSF names an SRK beyond the machine’s table',
        imxForm(csf('srk2.csf', csfText(BLOCKS).replace('Source index = 0', 'Source index = 2')), { machine: ONE_SRK_MACHINE }),
        400,
      ],
      ['CSF Target Index 7', imxForm(csf('target.csf', csfText(BLOCKS).replace('Target Index = 2', 'Target Index = 7'))), 400],
      ['block beyond the image', imxForm(csf('beyond.csf', csfText(`0x40200000 0x58c00 0x100000 "${IMAGE}"`))), 400],
      ['Blocks name another file', imxForm(csf('other.csf', csfText('0x0 0x0 0x10 "flash.bin"'))), 400],
      [
        'traversal in the Blocks file name',
        [...imxForm(csf('dotdot.csf', csfText('0x0 0x0 0x10 "../../flash.bin"'))).slice(0, -1), `artifact=@${IMAGE};filename=../../flash.bin`],
        400,
      ],
      ['CSF not text/plain', [...imxForm(good).slice(0, -4), '-F', `csf=@${good}`, '-F', `artifact=@${IMAGE}`], 400],
      ['CSF not UTF-8', imxForm(csf('latin1.csf', Buffer.from([0x5b, 0xe9, 0x5d, 0x0a]))), 400],
      ['empty artifact', imxForm(csf('empty.csf', csfText('0x0 0x0 0x10 "empty.bin"')), { artifact: 'empty.bin' }), 400],
      ['soctype mx6', imxForm(good, { soctype: 'mx6' }), 400],
      ['soctype mx8 (AHAB)', imxForm(good, { soctype: 'mx8' }), 501],
      ['cstversion with a path', imxForm(good, { cstversion: '../../bin' }), 400],
      ['unknown backend', imxForm(good, { backend: 'engine' }), 400],
      ['traversal in machine', imxForm(good, { machine: '../testmachine' }), 400],
      ['machine without imxsign keys', imxForm(good, { machine: 'othermachine' }), 404],
    ];
    for (const [name, args, status] of cases) {
      const post = curlPost(`${http.url}/sign/imx`, args.slice(DIGSIG_POST_ARGS.length), { cwd: work });
      t.equal(post.status, status, name);
      t.equal(post.code, 22, `${name}: curl --fail fails the task`);
    }
    t.same(await leftovers(http), []);
  });
});
