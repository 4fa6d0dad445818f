// swupdate sw-description signatures over the line protocol: RSA and RSA-PSS checked with
// `openssl dgst -verify`, CMS accepted by the real Debian `swupdate -c` inside a cpio .swu; a request
// that stalls mid-line waits for its LF rather than being signed as a prefix.
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import { request } from '../../helpers/line-client.js';
import { needTools } from '../../helpers/tools.js';
import { cmsVerify, copyKeyRoot, DISTRO, okValue, readVector, script, startFirmware, tool } from './line-fixtures.js';
import { buildSwu, swupdateCheck } from './swupdate-fixtures.js';
import { sleep } from '../../helpers/polling.js';

const tools = needTools('openssl', 'nc', 'swupdate', 'cpio', 'flock');

t.test('swupdate through the line protocol', tools, async (t) => {
  const dir = t.testdir({});
  const keyRoot = copyKeyRoot(dir);
  const daemon = await startFirmware(keyRoot);
  t.teardown(() => daemon.stop());
  const description = readVector('swupdate/sw-description');
  const cert = path.join(keyRoot, DISTRO, 'swupdate/cms.cert');
  const pub = path.join(dir, 'rsa.pub');
  fs.writeFileSync(pub, tool('openssl', ['pkey', '-in', path.join(keyRoot, DISTRO, 'swupdate/rsa-private.key'), '-pubout']).stdout);
  fs.writeFileSync(path.join(dir, 'sw-description'), description);
  const sign = async (method: string) =>
    Buffer.from(okValue(await request(daemon.port, `SWUPDATE ${DISTRO} ${method} ${description.toString('base64')}`)), 'base64');
  const dgstVerify = (sigFile: string, pss: boolean) =>
    tool(
      'openssl',
      [
        'dgst',
        '-sha256',
        '-verify',
        pub,
        ...(pss ? ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:-2'] : []),
        '-signature',
        sigFile,
        'sw-description',
      ],
      { cwd: dir },
    );

  t.test('RSA: identical to openssl dgst -sign, and verifies', async (t) => {
    const sig = await sign('RSA');
    t.ok(sig.equals(readVector('swupdate/sw-description.rsa.sig')), 'equals the openssl reference vector');
    fs.writeFileSync(path.join(dir, 'rsa.sig'), sig);
    t.match(dgstVerify('rsa.sig', false).out, /Verified OK/);
    const digest = crypto.createHash('sha256').update(description).digest('hex');
    t.equal(okValue(await request(daemon.port, `SWUPDATE-DIGEST ${DISTRO} RSA ${digest}`)), sig.toString('base64'), 'digest flow gives the same signature');
  });

  t.test('a request that stalls mid-line is never signed as a prefix: it waits for its LF', async (t) => {
    const line = Buffer.from(`SWUPDATE ${DISTRO} RSA ${description.toString('base64')}\n`);
    const socket = net.connect(daemon.port, '127.0.0.1');
    t.teardown(() => socket.destroy());
    let reply = '';
    socket.on('data', (d: Buffer) => (reply += d.toString()));
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(line.subarray(0, 221));
    // Past the one-shot rule's 20 ms of quiet, which the seed daemons keep (their single recv()).
    await sleep(300);
    t.equal(reply, '', 'nothing answered for the first 221 bytes');
    socket.write(line.subarray(221));
    await new Promise((resolve) => socket.once('close', resolve));
    t.equal(
      Buffer.from(okValue(reply.trim()), 'base64').toString('hex'),
      readVector('swupdate/sw-description.rsa.sig').toString('hex'),
      'the whole file is signed',
    );
  });

  t.test('RSA-PSS: verifies with openssl dgst -verify (PSS, auto salt), file and digest flows', async (t) => {
    const digest = crypto.createHash('sha256').update(description).digest('hex');
    const viaDigest = Buffer.from(okValue(await request(daemon.port, `SWUPDATE-DIGEST ${DISTRO} RSA-PSS ${digest}`)), 'base64');
    for (const [name, sig] of [
      ['pss.sig', await sign('RSA-PSS')],
      ['pss-digest.sig', viaDigest],
    ] as const) {
      fs.writeFileSync(path.join(dir, name), sig);
      const r = dgstVerify(name, true);
      t.equal(r.code, 0, r.out);
      t.match(r.out, /Verified OK/, name);
    }
    // swupdate's PSS build verifies with salt auto-detection; ours uses the maximum salt like meta-swupdate.
    const strict = tool(
      'openssl',
      ['dgst', '-sha256', '-verify', pub, '-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:222', '-signature', 'pss.sig', 'sw-description'],
      { cwd: dir },
    );
    t.match(strict.out, /Verified OK/, 'salt length is the maximum (256 - 32 - 2)');
    fs.writeFileSync(path.join(dir, 'sw-description.bad'), Buffer.concat([description, Buffer.from(' ')]));
    const bad = tool('openssl', ['dgst', '-sha256', '-verify', pub, '-sigopt', 'rsa_padding_mode:pss', '-signature', 'pss.sig', 'sw-description.bad'], {
      cwd: dir,
    });
    t.match(bad.out, /Verification failure/, 'a changed sw-description fails');
  });

  t.test('CMS: the real swupdate -c accepts the .swu; a changed sw-description is refused', async (t) => {
    const sig = await sign('CMS');
    const good = swupdateCheck(buildSwu(dir, 'good', description, sig), cert);
    t.ok(good.accepted, `swupdate accepted the image:\n${good.out}`);
    const changed = Buffer.from(description.toString().replace('signerd test image', 'signerd test imagX'));
    const bad = swupdateCheck(buildSwu(dir, 'bad', changed, sig), cert);
    t.notOk(bad.accepted, 'tampered sw-description refused');
    t.match(bad.out, /Signature verification failed|failed/i);
    fs.writeFileSync(path.join(dir, 'cms.sig'), sig);
    const r = cmsVerify('cms.sig', 'sw-description', cert, { cwd: dir });
    t.match(r.out, /Verification successful/, 'openssl cms -verify agrees');
  });

  t.test('CMS by digest, through scripts/firmware-sign-swupdate.sh, accepted by swupdate', async (t) => {
    for (const method of ['CMS', 'RSA', 'RSA-PSS']) {
      const out = path.join(dir, `script-${method}.sig`);
      const r = script('firmware-sign-swupdate.sh', [DISTRO, method, path.join(dir, 'sw-description'), out], daemon.port);
      t.equal(r.code, 0, r.out);
    }
    t.ok(fs.readFileSync(path.join(dir, 'script-RSA.sig')).equals(readVector('swupdate/sw-description.rsa.sig')));
    const digest = crypto.createHash('sha256').update(description).digest('hex');
    const sig = Buffer.from(okValue(await request(daemon.port, `SWUPDATE-DIGEST ${DISTRO} CMS ${digest}`)), 'base64');
    const check = swupdateCheck(buildSwu(dir, 'digest', description, sig), cert);
    t.ok(check.accepted, `digest-flow CMS accepted:\n${check.out}`);
    const scripted = swupdateCheck(buildSwu(dir, 'scripted', description, fs.readFileSync(path.join(dir, 'script-CMS.sig'))), cert);
    t.ok(scripted.accepted, `script CMS accepted:\n${scripted.out}`);
  });

  t.test('bad swupdate requests', async (t) => {
    t.match(await request(daemon.port, `SWUPDATE ${DISTRO} DSA ${description.toString('base64')}`), /^ERR BAD_REQUEST method must be/);
    t.match(await request(daemon.port, `SWUPDATE ${DISTRO} RSA not*base64`), /^ERR BAD_REQUEST sw-description is not base64/);
    // The HTTP front end refuses it too: one rule, in the signing core both share.
    t.match(
      await request(daemon.port, `SWUPDATE ${DISTRO} CMS ${Buffer.from('software = {};\xff', 'latin1').toString('base64')}`),
      /^ERR BAD_REQUEST sw-description is not UTF-8 text/,
    );
    t.match(await request(daemon.port, `SWUPDATE ${DISTRO} RSA ====`), /^ERR BAD_REQUEST/);
    t.match(await request(daemon.port, `SWUPDATE-DIGEST ${DISTRO} CMS abcd`), /^ERR BAD_REQUEST .*32 bytes/);
    // An empty sw-description: the base64 of nothing cannot be sent, and its digest is refused as HTTP refuses the file.
    t.match(await request(daemon.port, `SWUPDATE ${DISTRO} RSA `), /^ERR BAD_REQUEST/);
    const emptyDigest = crypto.createHash('sha256').digest('hex');
    for (const method of ['RSA', 'RSA-PSS', 'CMS']) {
      t.match(
        await request(daemon.port, `SWUPDATE-DIGEST ${DISTRO} ${method} ${emptyDigest}`),
        /^ERR BAD_REQUEST sw-description is empty/,
        `${method}: the digest of an empty sw-description`,
      );
    }
    t.match(await request(daemon.port, `SWUPDATE nodistro RSA ${description.toString('base64')}`), /^ERR UNKNOWN_KEY /);
    t.match(await request(daemon.port, `SWUPDATE .. RSA ${description.toString('base64')}`), /^ERR BAD_REQUEST distro must match/);
    t.equal(await request(daemon.port, 'PING'), 'OK PONG');
  });
});
