// i.MX HAB4 with the CSF and IMG keys in a SoftHSM2 token, through the same key seam: /sign/imx over
// HTTP gives a CSF that csf_parser parses and whose signatures openssl cms -verify accepts; in process,
// the CSF is byte-identical (RSA PKCS#1 v1.5 is deterministic) to the one the same keys give from files.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { buildHabCsf, parseCsfText, srkTable } from '../../../daemons/firmware/formats/hab4-csf.js';
import { openKeyRoot } from '../../../daemons/firmware/keys/key-root.js';
import { runSignerd } from '../../helpers/daemon.js';
import { createToken, needSoftHsm } from '../../helpers/softhsm.js';
import { needTools } from '../../helpers/tools.js';
import { csfText, habSignatureVerifies, makeHabPki } from './hab-fixtures.js';
import { curlPost, run } from './http-fixtures.js';
import { openHsmKeyRoot, startHsmFirmware } from './hsm-fixtures.js';

const MACHINE = 'imx8mm-evk';
const skip = needSoftHsm().skip ?? needTools('openssl', 'curl', 'csf_parser').skip;

t.test('i.MX HAB4 with HSM-held CSF and IMG keys', skip ? { skip } : {}, async (t) => {
  const dir = t.testdir({});
  const token = createToken('fw-imx');
  t.teardown(() => token.cleanup());
  const pki = makeHabPki(path.join(dir, 'pki'));
  const fileRoot = path.join(dir, 'files');
  const hsmRoot = path.join(dir, 'hsm');
  for (const root of [fileRoot, hsmRoot]) {
    const imx = path.join(root, MACHINE, 'imxsign');
    fs.mkdirSync(imx, { recursive: true });
    for (const file of ['csf.crt', 'img.crt', 'srk1.crt', 'srk2.crt', 'srk3.crt', 'srk4.crt']) fs.copyFileSync(path.join(pki, file), path.join(imx, file));
  }
  for (const name of ['csf', 'img']) {
    const from = path.join(pki, `${name}.key`);
    fs.copyFileSync(from, path.join(fileRoot, MACHINE, 'imxsign', `${name}.key`));
    const label = `imx-${name}`;
    const r = await runSignerd(['hsm', 'import', '--key', token.uri(label), '--for', 'firmware', '--from', from], '', token.env);
    t.equal(r.code, 0, r.stderr);
    fs.writeFileSync(path.join(hsmRoot, MACHINE, 'imxsign', `${name}.key.pkcs11`), `${token.uri(label)}\n`);
  }
  const image = crypto.randomBytes(64 * 1024);
  const blocks = '0x40200000 0x400 0x8000 "flash.bin", 0x40300000 0x9000 0x4000 "flash.bin"';

  t.test('/sign/imx against the HSM daemon', async (t) => {
    const daemon = await startHsmFirmware(hsmRoot, token, [], 2);
    t.teardown(() => daemon.stop());
    const work = path.join(dir, 'work');
    fs.mkdirSync(work);
    fs.writeFileSync(path.join(work, 'flash.bin'), image);
    fs.writeFileSync(path.join(work, 'csf_fit.txt'), csfText(blocks));
    // A *.txt name: curl sends it as text/plain by itself.
    const form = ['-F', `machine=${MACHINE}`, '-F', 'soctype=mx8m', '-F', 'cstversion=3.3.1', '-F', 'csf=@csf_fit.txt', '-F', 'artifact=@flash.bin'];
    const post = curlPost(`http://127.0.0.1:${daemon.ports[1]}/sign/imx`, form, { cwd: work, output: 'csf.bin' });
    t.equal(post.status, 200, post.stderr);
    t.equal(run('csf_parser', ['-c', 'csf.bin'], { cwd: work }).code, 0, 'csf_parser parses it');
    const csf = fs.readFileSync(path.join(work, 'csf.bin'));
    fs.writeFileSync(path.join(work, 'commands.bin'), csf.subarray(0, csf.readUInt16BE(1)));
    fs.writeFileSync(path.join(work, 'blocks.bin'), Buffer.concat([image.subarray(0x400, 0x8400), image.subarray(0x9000, 0xd000)]));
    const sigs = ['sig0.bin', 'sig1.bin'].map((s) => path.join(work, 'output', s));
    const srk = path.join(pki, 'srk1.crt');
    t.ok(
      sigs.some((s) => habSignatureVerifies(s, 'commands.bin', path.join(pki, 'csf.crt'), srk, work)),
      'CSF signature (HSM CSF key)',
    );
    t.ok(
      sigs.some((s) => habSignatureVerifies(s, 'blocks.bin', path.join(pki, 'img.crt'), srk, work)),
      'image signature (HSM IMG key)',
    );
  });

  t.test('in process: the HSM keys give the file keys’ bytes', async (t) => {
    const hsm = await openHsmKeyRoot(t, hsmRoot, token);
    const files = await openKeyRoot(fileRoot, { callMsMax: 10_000 });
    t.teardown(() => files.close());
    const request = parseCsfText(csfText(blocks));
    const when = new Date(Date.UTC(2026, 11, 6, 12, 0, 0));
    const csfOf = (root: typeof hsm) =>
      buildHabCsf(
        request,
        image,
        { srkTable: srkTable(root.habSrks(MACHINE).certificates), csf: root.signer(MACHINE, 'imxsign-csf'), img: root.signer(MACHINE, 'imxsign-img') },
        when,
      );
    t.ok((await csfOf(hsm)).equals(await csfOf(files)));
  });
});
