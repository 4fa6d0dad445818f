// Mender manifest signatures over the line protocol: scripts/firmware-sign-mender.sh signs real
// artifacts end to end and the real `mender-artifact validate -k` accepts them (RSA and ECDSA P-256).
// The script reads and writes the outer tar itself (no tar): members are copied byte for byte, and
// anything a Mender artifact does not hold is refused with one line before any output exists.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { request } from '../../helpers/line-client.js';
import { needTools } from '../../helpers/tools.js';
import { copyKeyRoot, DISTRO, okValue, readVector, RSA_MENDER_DISTRO, script, SCRIPTS, startFirmware, tool, vector } from './line-fixtures.js';

const tools = needTools('openssl', 'nc', 'tar', 'mender-artifact');

/** A ustar header as Go's archive/tar writes it (checksum computed), to build artifacts by hand. */
function ustarHeader(name: string, size: number, type: string): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 'latin1');
  h.write('0000644\0', 100, 'latin1');
  h.write('0000000\0', 108, 'latin1');
  h.write('0000000\0', 116, 'latin1');
  h.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  h.write('00000000000\0', 136, 'latin1');
  h.write(' '.repeat(8), 148, 'latin1');
  h.write(type, 156, 'latin1');
  h.write('ustar\x0000', 257, 'latin1');
  h.write('0000000\0', 329, 'latin1');
  h.write('0000000\0', 337, 'latin1');
  h.write(
    `${h
      .reduce((sum, b) => sum + b, 0)
      .toString(8)
      .padStart(6, '0')}\0 `,
    148,
    'latin1',
  );
  return h;
}

function member(name: string, content: Buffer | string, type = '0'): Buffer {
  const body = Buffer.from(content);
  return Buffer.concat([ustarHeader(name, body.length, type), body, Buffer.alloc((512 - (body.length % 512)) % 512)]);
}

/** [name, header offset, size] of each member of an uncompressed tar (names from the name field only). */
function members(tar: Buffer): Array<[string, number, number]> {
  const list: Array<[string, number, number]> = [];
  for (let at = 0; at + 512 <= tar.length && tar[at] !== 0;) {
    const size = parseInt(
      tar
        .subarray(at + 124, at + 136)
        .toString('latin1')
        .replace(/\0.*$/, ''),
      8,
    );
    list.push([
      tar
        .subarray(at, at + 100)
        .toString('latin1')
        .replace(/\0.*$/, ''),
      at,
      size,
    ]);
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return list;
}

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
      const w = tool('mender-artifact', [
        'write',
        'rootfs-image',
        '-n',
        `release-${distro}`,
        '-t',
        'qemux86-64',
        '-f',
        rootfs,
        '-o',
        unsigned,
        '--no-progress',
      ]);
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

  t.test('the script copies every member byte for byte and writes a correct ustar manifest.sig', async (t) => {
    const input = readVector('mender/unsigned.mender');
    const signed = path.join(dir, 'bytes-signed.mender');
    // A tar (or cmp) that fails loudly, first on PATH: the script must not need either.
    const stubs = path.join(dir, 'stubs');
    fs.mkdirSync(stubs);
    for (const name of ['tar', 'cmp']) fs.writeFileSync(path.join(stubs, name), '#!/bin/sh\necho "$0 called" >&2\nexit 99\n', { mode: 0o755 });
    const r = tool('bash', [path.join(SCRIPTS, 'firmware-sign-mender.sh'), RSA_MENDER_DISTRO, vector('mender/unsigned.mender'), signed], {
      env: { FIRMWARE_PORT: String(daemon.port), PATH: `${stubs}:${process.env['PATH']}` },
    });
    t.equal(r.code, 0, r.out);
    const output = fs.readFileSync(signed);
    const [, manifestAt, manifestSize] = members(input)[1]!;
    const manifestEnd = manifestAt + 512 + Math.ceil(manifestSize / 512) * 512;
    const sig = readVector('mender/manifest.sig.rsa');
    const sigMember = output.subarray(manifestEnd, manifestEnd + 512 + Math.ceil(sig.length / 512) * 512);
    t.same(
      members(output).map(([name]) => name),
      ['version', 'manifest', 'manifest.sig', 'header.tar.gz', 'data/0000.tar.gz'],
    );
    t.ok(output.subarray(0, manifestEnd).equals(input.subarray(0, manifestEnd)), 'version and manifest unchanged');
    t.ok(output.subarray(manifestEnd + sigMember.length).equals(input.subarray(manifestEnd)), 'every later member and the two zero blocks unchanged');
    t.ok(
      sigMember.subarray(0, 512).equals(ustarHeader('manifest.sig', sig.length, '0')),
      'manifest.sig header: 0644, uid/gid 0, no owner names, mtime 0 as the manifest, checksum right',
    );
    t.ok(sigMember.subarray(512, 512 + sig.length).equals(sig), 'manifest.sig content');
    t.equal(output.length % 512, 0);
    t.match(tool('tar', ['-tvf', signed]).out, /-rw-r--r-- 0\/0 +344 1970-01-01 00:00 manifest\.sig/, 'GNU tar reads the new member');
    t.same(
      fs.readdirSync(dir).filter((f) => f.startsWith('.bytes-signed')),
      [],
      'no temporary file left',
    );
  });

  t.test('a GNU-format outer tar (rewritten by GNU tar) signs and validates too', async (t) => {
    const unpacked = path.join(dir, 'gnu-in');
    fs.mkdirSync(unpacked);
    t.equal(tool('tar', ['-xf', vector('mender/unsigned.mender'), '-C', unpacked]).code, 0);
    const gnu = path.join(dir, 'gnu.mender');
    t.equal(tool('tar', ['--format=gnu', '-cf', gnu, '-C', unpacked, 'version', 'manifest', 'header.tar.gz', 'data/0000.tar.gz']).code, 0);
    const signed = path.join(dir, 'gnu-signed.mender');
    const r = script('firmware-sign-mender.sh', [RSA_MENDER_DISTRO, gnu, signed], daemon.port);
    t.equal(r.code, 0, r.out);
    t.equal(tool('mender-artifact', ['validate', signed, '-k', pubs[RSA_MENDER_DISTRO]!]).code, 0);
  });

  t.test('refused with one line, nothing written: what a Mender artifact does not hold', async (t) => {
    const version = member('version', '{"format":"mender","version":3}');
    const manifestMember = member('manifest', manifest);
    const rest = Buffer.concat([member('header.tar.gz', 'h'), member('data/0000.tar.gz', 'd')]);
    const end = Buffer.alloc(1024);
    const good = Buffer.concat([version, manifestMember, rest, end]);
    const badChecksum = Buffer.from(good);
    badChecksum[1024 + 6] = 0x41; // in the manifest's header
    const cases: Array<[string, Buffer, RegExp]> = [
      [
        'pax header',
        Buffer.concat([version, manifestMember, member('PaxHeaders/header.tar.gz', '30 path=header.tar.gz\n', 'x'), rest, end]),
        /pax extended header/,
      ],
      ['GNU long name', Buffer.concat([version, manifestMember, member('././@LongLink', 'data/0000.tar.gz\0', 'L'), rest, end]), /GNU long name/],
      ['symlink', Buffer.concat([version, manifestMember, member('header.tar.gz', '', '2'), rest, end]), /a link/],
      ['hard link', Buffer.concat([version, manifestMember, member('header.tar.gz', '', '1'), rest, end]), /a link/],
      ['directory', Buffer.concat([version, manifestMember, member('data', '', '5'), rest, end]), /a directory/],
      ['unexpected name', Buffer.concat([version, manifestMember, member('evil.sh', 'x'), rest, end]), /unexpected member 'evil\.sh'/],
      ['traversal', Buffer.concat([version, manifestMember, member('data/../x.tar', 'x'), rest, end]), /unexpected member/],
      ['already signed', Buffer.concat([version, manifestMember, member('manifest.sig', 'c2ln'), rest, end]), /already signed/],
      ['duplicate', Buffer.concat([version, manifestMember, rest, member('header.tar.gz', 'h'), end]), /appears twice/],
      ['manifest not second', Buffer.concat([version, rest, manifestMember, end]), /second member must be 'manifest'/],
      ['no manifest', Buffer.concat([version, end]), /no manifest/],
      ['bad checksum', badChecksum, /checksum mismatch/],
      ['member cut short', good.subarray(0, good.length - 1024 - 100), /cut short/],
      ['no end-of-archive blocks', good.subarray(0, good.length - 1024), /not a complete tar archive/],
      ['not a tar', Buffer.alloc(4096, 0x42), /not a ustar header|checksum/],
    ];
    for (const [name, content, message] of cases) {
      const input = path.join(dir, 'refused-in.mender');
      fs.writeFileSync(input, content);
      const r = script('firmware-sign-mender.sh', [RSA_MENDER_DISTRO, input, path.join(dir, 'refused-out.mender')], daemon.port);
      t.equal(r.code, 1, `${name}: exit 1`);
      t.match(r.out, message, name);
      t.match(r.out, /^firmware-sign-mender\.sh: [^\n]+\n$/, `${name}: one line`);
      t.notOk(fs.existsSync(path.join(dir, 'refused-out.mender')), `${name}: no output`);
    }
    t.same(
      fs.readdirSync(dir).filter((f) => f.startsWith('.refused-out')),
      [],
      'no temporary file left',
    );
  });

  t.test('bad Mender requests', async (t) => {
    t.match(await request(daemon.port, `MENDER ${DISTRO} ${Buffer.from('not a manifest\n').toString('base64')}`), /^ERR BAD_REQUEST manifest lines/);
    t.match(
      await request(daemon.port, `MENDER ${DISTRO} ${Buffer.from(manifest.toString().trimEnd()).toString('base64')}`),
      /^ERR BAD_REQUEST manifest must end/,
    );
    t.match(await request(daemon.port, `MENDER-DIGEST ${DISTRO} ${'00'.repeat(31)}`), /^ERR BAD_REQUEST .*32 bytes/);
    t.match(await request(daemon.port, `MENDER qemux86-64 ${manifest.toString('base64')}`), /^ERR UNKNOWN_KEY /);
    t.equal(await request(daemon.port, 'PING'), 'OK PONG');
  });
});
