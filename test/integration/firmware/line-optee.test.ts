// OP-TEE TA signing over the line protocol: scripts/firmware-sign-optee.sh output byte-identical to a
// TA assembled with openssl alone (PKCS#1 v1.5); PSS (salt 32) verified with openssl pkeyutl.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { request } from '../../helpers/line-client.js';
import { needTools } from '../../helpers/tools.js';
import { copyKeyRoot, MACHINE, okValue, pssDigestVerify, readVector, script, startFirmware, tool, vector } from './line-fixtures.js';

const tools = needTools('openssl', 'nc');
const UUID = '8aaaf200-2450-11e4-abe2-0002a5d5c51b';
const ELF = vector(`optee/${UUID}.stripped.elf`);

/** The research notes' recipe: shdr packed by hand, digest and signature by openssl. */
function opensslReference(dir: string, key: string, version: number): Buffer {
  const elf = fs.readFileSync(ELF);
  const shdr = Buffer.alloc(20);
  shdr.writeUInt32LE(0x4f545348, 0);
  shdr.writeUInt32LE(1, 4);
  shdr.writeUInt32LE(elf.length, 8);
  shdr.writeUInt32LE(0x70004830, 12);
  shdr.writeUInt16LE(32, 16);
  shdr.writeUInt16LE(256, 18);
  const uuid = Buffer.from(UUID.replace(/-/g, ''), 'hex');
  const ver = Buffer.alloc(4);
  ver.writeUInt32LE(version);
  const digest = tool('openssl', ['dgst', '-sha256', '-binary'], { input: Buffer.concat([shdr, uuid, ver, elf]) }).stdout;
  fs.writeFileSync(path.join(dir, 'ref.dig'), digest);
  const sig = tool('openssl', ['pkeyutl', '-sign', '-inkey', key, '-pkeyopt', 'digest:sha256', '-pkeyopt', 'rsa_padding_mode:pkcs1', '-in', 'ref.dig'], {
    cwd: dir,
  }).stdout;
  return Buffer.concat([shdr, digest, sig, uuid, ver, elf]);
}

t.test('OP-TEE through the line protocol', tools, async (t) => {
  const dir = t.testdir({});
  const keyRoot = copyKeyRoot(dir);
  const daemon = await startFirmware(keyRoot);
  t.teardown(() => daemon.stop());
  const key = path.join(keyRoot, MACHINE, 'opteesign/optee-signing-key.pem');

  t.test('KEYINFO gives what the client needs before hashing', async (t) => {
    t.match(okValue(await request(daemon.port, `KEYINFO ${MACHINE} opteesign`)), /^type=rsa bits=2048 sig-bytes=256 key-id=[0-9a-f]{16} cert=no$/);
  });

  t.test('PKCS#1 v1.5: byte-identical to the openssl-assembled TA', async (t) => {
    const out = path.join(dir, 'ours.ta');
    const r = script('firmware-sign-optee.sh', [MACHINE, 'PKCS1', UUID, '7', ELF, out], daemon.port);
    t.equal(r.code, 0, r.out);
    const ours = fs.readFileSync(out);
    t.ok(ours.equals(opensslReference(dir, key, 7)), 'identical to a reference assembled with openssl now');
    t.ok(ours.equals(readVector(`optee/${UUID}.pkcs1.v7.ta`)), 'identical to the committed reference');
  });

  t.test('PSS: salt 32, verified by openssl pkeyutl', async (t) => {
    const out = path.join(dir, 'pss.ta');
    const r = script('firmware-sign-optee.sh', [MACHINE, 'PSS', UUID, '3', ELF, out], daemon.port);
    t.equal(r.code, 0, r.out);
    const ta = fs.readFileSync(out);
    t.equal(ta.readUInt32LE(12), 0x70414930, 'algo TEE_ALG_RSASSA_PKCS1_PSS_MGF1_SHA256');
    const digest = ta.subarray(20, 52);
    t.ok(
      crypto
        .createHash('sha256')
        .update(ta.subarray(0, 20))
        .update(ta.subarray(52 + 256))
        .digest()
        .equals(digest),
      'hash covers shdr, uuid, version, ELF',
    );
    fs.writeFileSync(path.join(dir, 'pss.dig'), digest);
    fs.writeFileSync(path.join(dir, 'pss.sig'), ta.subarray(52, 52 + 256));
    fs.writeFileSync(path.join(dir, 'optee.pub'), tool('openssl', ['pkey', '-in', key, '-pubout']).stdout);
    const verify = (salt: string) => pssDigestVerify('optee.pub', 'pss.dig', 'pss.sig', salt, dir);
    t.match(verify('32').out, /Signature Verified Successfully/);
    t.notMatch(verify('222').out, /Signature Verified Successfully/, 'not a max-length salt (OP-TEE would refuse it)');
  });

  t.test('ta_version is always decimal, leading zeros included (they were read as octal: "010" gave 8, "08" failed)', async (t) => {
    for (const [text, value] of [
      ['010', 10],
      ['08', 8],
      ['0', 0],
      ['0004294967295', 0xffffffff],
    ] as const) {
      const out = path.join(dir, `version-${text}.ta`);
      const r = script('firmware-sign-optee.sh', [MACHINE, 'PKCS1', UUID, text, ELF, out], daemon.port);
      t.equal(r.code, 0, r.out);
      const ta = fs.readFileSync(out);
      t.equal(ta.readUInt32LE(20 + 32 + 256 + 16), value, `'${text}' is ${value} in the TA`);
      t.ok(ta.equals(opensslReference(dir, key, value)), `'${text}': identical to the openssl reference for ${value}`);
    }
    for (const text of ['4294967296', '00000000000000000000004294967296', '99999999999999999999999', '0x10', '-1', '1e3', ' 7', '']) {
      const out = path.join(dir, 'refused-version.ta');
      const r = script('firmware-sign-optee.sh', [MACHINE, 'PKCS1', UUID, text, ELF, out], daemon.port);
      t.equal(r.code, 2, `'${text}' refused`);
      t.match(r.out, /^firmware-sign-optee\.sh: ta_version must be a decimal number from 0 to 4294967295, not '[^\n]*'\n$/, `'${text}': one clear line`);
      t.notOk(fs.existsSync(out));
    }
  });

  t.test('bad OP-TEE requests', async (t) => {
    t.match(await request(daemon.port, `OPTEE ${MACHINE} PSS2 ${'00'.repeat(32)}`), /^ERR BAD_REQUEST algo must be/);
    t.match(await request(daemon.port, `OPTEE ${MACHINE} PSS ${'00'.repeat(33)}`), /^ERR BAD_REQUEST/);
    t.match(await request(daemon.port, `OPTEE poky PSS ${'00'.repeat(32)}`), /^ERR UNKNOWN_KEY /);
    const bad = script('firmware-sign-optee.sh', [MACHINE, 'PKCS1', 'not-a-uuid', '1', ELF, path.join(dir, 'x.ta')], daemon.port);
    t.not(bad.code, 0);
    t.notOk(fs.existsSync(path.join(dir, 'x.ta')));
  });
});
