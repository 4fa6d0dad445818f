// U-Boot FIT signing in-process against the real mkimage: FITs built by `mkimage -f` from the .its
// vectors (dtc compiles them), signed here and by `mkimage -F -k` with the same keys and timestamp,
// are byte-identical (signer name and version set to mkimage's for the comparison); re-signing,
// comments, -o and two key sizes included. fdtget reads the signatures back and openssl checks them;
// FITs signerd refuses get their codes.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { signFitImage, type FitSigningOptions } from '../../../daemons/firmware/formats/fit-image.js';
import { getProp, pathOffset } from '../../../daemons/firmware/formats/flattened-device-tree.js';
import type { DigestSigner } from '../../../daemons/firmware/formats/digest-signer.js';
import { fileSigner } from '../../../daemons/firmware/keys/file-key.js';
import { describePublicKey, type KeyFacts } from '../../../daemons/firmware/keys/key-facts.js';
import { DaemonError, isDaemonError } from '../../../lib/errors.js';
import { needTools } from '../../helpers/tools.js';
import { MACHINE, openTestKeyRoot, tool, vector } from './line-fixtures.js';

const TIMESTAMP = 1_700_000_000;

/** The error code a promise rejects with ('none' if it resolves). */
async function codeOfAsync(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'none';
  } catch (err) {
    return isDaemonError(err) ? err.code : `not a DaemonError: ${String(err)}`;
  }
}

t.test('FIT signing is byte-identical to mkimage -F -k', needTools('mkimage', 'dtc', 'fdtget', 'openssl'), async (t) => {
  const dir = t.testdir({});
  const root = await openTestKeyRoot(dir);
  t.teardown(() => root.close());
  const keys = path.join(dir, 'keys');
  fs.mkdirSync(keys);
  fs.copyFileSync(path.join(dir, 'keyroot', MACHINE, 'fitimagesign/dev.key'), path.join(keys, 'dev.key'));
  fs.copyFileSync(vector('fit', 'big.key'), path.join(keys, 'big.key'));
  for (const key of fs.readdirSync(keys)) fs.chmodSync(path.join(keys, key), 0o600);
  const bigKey = createPrivateKey(fs.readFileSync(path.join(keys, 'big.key')));
  const signers: Record<string, DigestSigner> = {
    dev: root.signer(MACHINE, 'fitimagesign'),
    big: fileSigner(bigKey, describePublicKey(createPublicKey(bigKey)) as KeyFacts, null),
  };
  const lookup = (name: string): DigestSigner => {
    const signer = signers[name];
    if (!signer) throw new DaemonError('UNKNOWN_KEY', `no test key ${name}`);
    return signer;
  };
  const version = /mkimage version (\S+)/.exec(tool('mkimage', ['-V']).out)?.[1];
  t.ok(version, 'mkimage reports its version');
  const asMkimage = (extra: Partial<FitSigningOptions> = {}): FitSigningOptions => ({
    algo: null,
    comment: null,
    timestamp: TIMESTAMP,
    signerName: 'mkimage',
    signerVersion: version!,
    keyDestination: null,
    requireKeys: false,
    ...extra,
  });
  const env = { SOURCE_DATE_EPOCH: String(TIMESTAMP) };

  // Payloads and the FITs built from the vectors' .its by mkimage -f (dtc inside).
  for (const [name, bytes] of [
    ['kernel.bin', 30_000],
    ['board.dtb', 1_000],
    ['board-b.dtb', 1_501],
    ['ramdisk.bin', 777],
  ] as const) {
    fs.writeFileSync(path.join(dir, name), crypto.randomBytes(bytes));
  }
  const build = (its: string, out: string, extra: string[] = []): void => {
    fs.writeFileSync(path.join(dir, `${out}.its`), its);
    const r = tool('mkimage', [...extra, '-f', `${out}.its`, out], { cwd: dir, env });
    if (r.code !== 0) throw new Error(`mkimage -f ${out}: ${r.out}`);
  };
  const simpleIts = fs.readFileSync(vector('fit', 'simple.its'), 'utf8');
  build(simpleIts, 'simple.itb');
  build(fs.readFileSync(vector('fit', 'multi.its'), 'utf8'), 'multi.itb');

  /** mkimage -F -k on a copy of `input`; the signed copy's bytes. */
  const mkimageSigned = (input: string, out: string, args: string[]): Buffer => {
    fs.copyFileSync(path.join(dir, input), path.join(dir, out));
    const r = tool('mkimage', ['-F', '-k', keys, ...args, out], { cwd: dir, env });
    if (r.code !== 0) throw new Error(`mkimage -F ${out}: ${r.out}`);
    return fs.readFileSync(path.join(dir, out));
  };

  const cases: Array<{ name: string; input: string; args: string[]; opts: Partial<FitSigningOptions> }> = [
    { name: 'kernel and configuration, one key', input: 'simple.itb', args: [], opts: {} },
    { name: 'with a comment (-c, odd length)', input: 'simple.itb', args: ['-c', 'release build 42'], opts: { comment: 'release build 42' } },
    { name: 'algorithm forced (-o)', input: 'simple.itb', args: ['-o', 'sha512,rsa2048'], opts: { algo: 'sha512,rsa2048' } },
    { name: 'two keys, crc32/md5/sha1/sha2 hash nodes, default and explicit sign-images', input: 'multi.itb', args: [], opts: {} },
  ];
  for (const c of cases) {
    const reference = mkimageSigned(c.input, `${c.name.replace(/\W+/g, '-')}.ref`, c.args);
    const ours = await signFitImage(fs.readFileSync(path.join(dir, c.input)), lookup, asMkimage(c.opts));
    t.ok(ours.image.equals(reference), `${c.name}: byte-identical to mkimage -F (${reference.length} bytes)`);
  }

  await t.test("the public keys written into U-Boot's device tree (-K, -r) are byte-identical to mkimage's", async (t) => {
    // mkimage reads the public key from <key>.crt for -K.
    for (const name of ['dev', 'big']) {
      const r = tool('openssl', ['req', '-batch', '-new', '-x509', '-key', `${name}.key`, '-out', `${name}.crt`, '-subj', `/CN=${name}`, '-days', '1'], {
        cwd: keys,
      });
      t.equal(r.code, 0, r.out);
    }
    fs.writeFileSync(path.join(dir, 'u-boot.dts'), '/dts-v1/;\n/ {\n\tmodel = "signerd test board";\n\tcompatible = "signerd,test";\n\tchosen { };\n};\n');
    t.equal(tool('dtc', ['-I', 'dts', '-O', 'dtb', '-o', 'u-boot.dtb', 'u-boot.dts'], { cwd: dir }).code, 0, 'dtc compiles the control device tree');
    const controlDtb = fs.readFileSync(path.join(dir, 'u-boot.dtb'));
    const withKeys = async (fit: string, dtb: Buffer, args: string[], requireKeys: boolean, label: string): Promise<Buffer> => {
      fs.writeFileSync(path.join(dir, `${label}.dtb`), dtb);
      const reference = mkimageSigned(fit, `${label}.itb`, ['-K', `${label}.dtb`, ...args]);
      const ours = await signFitImage(fs.readFileSync(path.join(dir, fit)), lookup, asMkimage({ keyDestination: dtb, requireKeys }));
      t.ok(ours.image.equals(reference), `${label}: the FIT is identical`);
      const referenceDtb = fs.readFileSync(path.join(dir, `${label}.dtb`));
      t.ok(ours.keyDestination?.equals(referenceDtb), `${label}: the device tree is identical (${referenceDtb.length} bytes)`);
      return referenceDtb;
    };
    await withKeys('simple.itb', controlDtb, ['-r'], true, 'one key, required');
    const twoKeys = await withKeys('multi.itb', controlDtb, [], false, 'two keys over several tries');
    t.match(
      tool('fdtget', ['-l', `two keys over several tries.dtb`, '/signature'], { cwd: dir }).out,
      /key-dev[\s\S]*key-big|key-big[\s\S]*key-dev/,
      'both key nodes',
    );
    await withKeys('multi.itb', twoKeys, ['-r'], true, 'keys already there, now required');
    t.equal(
      await codeOfAsync(
        signFitImage(fs.readFileSync(path.join(dir, 'simple.itb')), lookup, asMkimage({ keyDestination: crypto.randomBytes(300), requireKeys: false })),
      ),
      'BAD_REQUEST',
      'a key destination that is not a device tree',
    );
  });

  await t.test('re-signing a signed FIT, with a longer and then a shorter comment', async (t) => {
    const once = mkimageSigned('multi.itb', 'resign-1.itb', ['-c', 'first']);
    const longer = mkimageSigned('resign-1.itb', 'resign-2.itb', ['-c', 'a much longer comment than the first']);
    t.ok((await signFitImage(once, lookup, asMkimage({ comment: 'a much longer comment than the first' }))).image.equals(longer), 'longer: identical');
    const shorter = mkimageSigned('resign-2.itb', 'resign-3.itb', ['-c', 'x']);
    t.ok((await signFitImage(longer, lookup, asMkimage({ comment: 'x' }))).image.equals(shorter), 'shorter (stale bytes where libfdt leaves them): identical');
  });

  await t.test("the kernel's signature checks with openssl; a flipped kernel byte does not", async (t) => {
    const signed = await signFitImage(fs.readFileSync(path.join(dir, 'simple.itb')), lookup, asMkimage());
    fs.writeFileSync(path.join(dir, 'ours.itb'), signed.image);
    t.same(
      signed.signatures.map((s) => s.path),
      ['/images/kernel-1/signature-1', '/configurations/conf-1/signature-1'],
    );
    const hex = tool('fdtget', ['-t', 'bx', 'ours.itb', '/images/kernel-1/signature-1', 'value'], { cwd: dir }).out.trim().split(/\s+/);
    fs.writeFileSync(path.join(dir, 'kernel.sig'), Buffer.from(hex.map((b) => b.padStart(2, '0')).join(''), 'hex'));
    tool('openssl', ['pkey', '-in', path.join(keys, 'dev.key'), '-pubout', '-out', 'dev.pub'], { cwd: dir });
    const verify = (file: string) => tool('openssl', ['dgst', '-sha256', '-verify', 'dev.pub', '-signature', 'kernel.sig', file], { cwd: dir });
    t.equal(verify('kernel.bin').code, 0, 'openssl dgst -verify: Verified OK');
    const flipped = fs.readFileSync(path.join(dir, 'kernel.bin'));
    flipped.writeUInt8(flipped[100]! ^ 1, 100);
    fs.writeFileSync(path.join(dir, 'kernel.flipped'), flipped);
    t.not(verify('kernel.flipped').code, 0, 'a flipped byte fails');
    t.equal(tool('fdtget', ['-t', 's', 'ours.itb', '/configurations/conf-1/signature-1', 'hashed-nodes'], { cwd: dir }).code, 0);
  });

  await t.test("ECDSA P-256 (sha256,ecdsa256): mkimage's tree but for the signature values; the values verify", async (t) => {
    // mkimage's ECDSA nonces are random, ours RFC 6979: the values differ, all else must not.
    const ecKey = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
    fs.writeFileSync(path.join(keys, 'ec.pem'), ecKey.export({ type: 'sec1', format: 'pem' }), { mode: 0o600 });
    signers['ec'] = fileSigner(ecKey, describePublicKey(createPublicKey(ecKey)) as KeyFacts, null);
    build(simpleIts.replaceAll('sha256,rsa2048', 'sha256,ecdsa256').replaceAll('key-name-hint = "dev"', 'key-name-hint = "ec"'), 'ec.itb');
    const reference = mkimageSigned('ec.itb', 'ec.ref', []);
    const ours = (await signFitImage(fs.readFileSync(path.join(dir, 'ec.itb')), lookup, asMkimage())).image;
    fs.writeFileSync(path.join(dir, 'ec.ours'), ours);
    const value = (file: string, node: string): Buffer =>
      Buffer.from(
        tool('fdtget', ['-t', 'bx', file, node, 'value'], { cwd: dir })
          .out.trim()
          .split(/\s+/)
          .map((b) => b.padStart(2, '0'))
          .join(''),
        'hex',
      );
    for (const node of ['/images/kernel-1/signature-1', '/configurations/conf-1/signature-1'])
      t.equal(value('ec.ours', node).length, 64, `${node}: r‖s, 64 bytes`);
    t.equal(ours.length, reference.length, 'the same size as mkimage');
    // The padding after a property keeps stale bytes of what the splice moved (here: signature values),
    // so the comparison is of the trees dtc reads, without the two signature values.
    const tree = (file: string): string => {
      let node = '';
      return tool('dtc', ['-I', 'dtb', '-O', 'dts', file], { cwd: dir })
        .stdout.toString()
        .split('\n')
        .filter((line) => {
          node = /^\s*([\w,-]+) \{$/.exec(line)?.[1] ?? node;
          return !(node.startsWith('signature') && /^\s*value = /.test(line));
        })
        .join('\n');
    };
    t.equal(tree('ec.ours'), tree('ec.ref'), "dtc: mkimage's tree but for the two signature values");
    const kernel = fs.readFileSync(path.join(dir, 'kernel.bin'));
    const check = (signature: Buffer) => crypto.verify('sha256', kernel, { key: createPublicKey(ecKey), dsaEncoding: 'ieee-p1363' }, signature);
    t.ok(check(value('ec.ours', '/images/kernel-1/signature-1')), "our kernel signature verifies (OpenSSL's ECDSA)");
    t.ok(check(value('ec.ref', '/images/kernel-1/signature-1')), "and so does mkimage's, over the same data");
    t.equal(
      await codeOfAsync(signFitImage(fs.readFileSync(path.join(dir, 'ec.itb')), () => signers['dev']!, asMkimage())),
      'BAD_REQUEST',
      'ecdsa256 with an RSA key',
    );
    t.equal(
      await codeOfAsync(
        signFitImage(fs.readFileSync(path.join(dir, 'ec.itb')), lookup, asMkimage({ keyDestination: fs.readFileSync(path.join(dir, 'u-boot.dtb')) })),
      ),
      'NOT_IMPLEMENTED',
      'an ECDSA key into a device tree (-K)',
    );
  });

  await t.test('refused FITs get their codes', async (t) => {
    const sign = (blob: Buffer): Promise<string> => codeOfAsync(signFitImage(blob, lookup, asMkimage()));
    const variant = async (name: string, from: string, to: string, extra: string[] = []): Promise<string> => {
      t.ok(simpleIts.includes(from), `${name}: the vector has what the variant replaces`);
      build(simpleIts.replace(from, to), `${name}.itb`, extra);
      return sign(fs.readFileSync(path.join(dir, `${name}.itb`)));
    };
    const simple = fs.readFileSync(path.join(dir, 'simple.itb'));
    t.equal(await sign(crypto.randomBytes(2000)), 'BAD_REQUEST', 'not a device tree');
    t.equal(await sign(simple.subarray(0, 1000)), 'BAD_REQUEST', 'a truncated FIT');
    const badTag = Buffer.from(simple);
    // The root's first property tag: after FDT_BEGIN_NODE and the root's empty, padded name.
    badTag.writeUInt32BE(0x77, badTag.readUInt32BE(8) + 8);
    t.equal(await sign(badTag), 'BAD_REQUEST', 'an unknown structure tag');
    t.equal(await sign(Buffer.from(simple).fill(0xff, simple.readUInt32BE(12))), 'BAD_REQUEST', 'a strings block of junk');
    const stripped = simpleIts.replace(/\t*signature-1 \{[^}]*\};\n/g, '');
    build(stripped, 'nosig.itb');
    t.equal(await sign(fs.readFileSync(path.join(dir, 'nosig.itb'))), 'BAD_REQUEST', 'no signature node at all');
    t.equal(await variant('ecdsa384', 'algo = "sha256,rsa2048";', 'algo = "sha384,ecdsa384";'), 'NOT_IMPLEMENTED', 'ECDSA on another curve');
    t.equal(await variant('sha1', 'algo = "sha256,rsa2048";', 'algo = "sha1,rsa2048";'), 'BAD_REQUEST', 'sha1 signatures');
    t.equal(await variant('wrong-size', 'algo = "sha256,rsa2048";', 'algo = "sha256,rsa4096";'), 'BAD_REQUEST', 'rsa4096 named, a 2048-bit key');
    t.equal(await variant('pss', 'key-name-hint = "dev";', 'key-name-hint = "dev"; padding = "pss";'), 'NOT_IMPLEMENTED', 'PSS padding');
    t.equal(await variant('no-hint', 'key-name-hint = "dev";', ''), 'BAD_REQUEST', 'a signature node without key-name-hint');
    t.equal(await variant('unknown-key', 'key-name-hint = "dev";', 'key-name-hint = "nobody";'), 'UNKNOWN_KEY', "a key the caller's lookup does not have");
    t.equal(await variant('external', 'default = "conf-1";', 'default = "conf-1";', ['-E']), 'NOT_IMPLEMENTED', 'external data (mkimage -E)');
    const fdtHash = simpleIts.lastIndexOf('algo = "sha256";');
    build(`${simpleIts.slice(0, fdtHash)}algo = "crc32";${simpleIts.slice(fdtHash + 'algo = "sha256";'.length)}`, 'weak-hash.itb');
    t.equal(await sign(fs.readFileSync(path.join(dir, 'weak-hash.itb'))), 'BAD_REQUEST', 'a configuration over an image with only a crc32 hash');
    const crowded = simpleIts.replace('\timages {', `\textra {\n${Array.from({ length: 4100 }, (_, i) => `\t\tn${i} { };`).join('\n')}\n\t};\n\timages {`);
    build(crowded, 'crowded.itb');
    t.equal(await sign(fs.readFileSync(path.join(dir, 'crowded.itb'))), 'BAD_REQUEST', 'more than 4096 nodes (a blob is input, not trusted)');
    t.equal(
      await variant('missing-image', 'sign-images = "fdt", "kernel";', 'sign-images = "fdt", "kernel", "ramdisk";'),
      'none',
      'sign-images naming a property the configuration lacks is skipped, as mkimage does',
    );
  });
});

/**
 * A FIT built here, as an attacker would: `images` images (each a few bytes of data and a sha256 hash
 * node), `nops` FDT_NOP tags at the end of /images, and `configs` configurations, each signing img0
 * with an ECDSA P-256 signature node.
 */
function hostileFit({ images, nops, configs }: { images: number; nops: number; configs: number }): Buffer {
  const word = (n: number): Buffer => Buffer.from([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
  const pad = (b: Buffer): Buffer => Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
  const names: string[] = [];
  const nameoff = (name: string): number => {
    if (!names.includes(name)) names.push(name);
    return names.slice(0, names.indexOf(name)).reduce((n, s) => n + s.length + 1, 0);
  };
  const parts: Buffer[] = [];
  const begin = (name: string): number => parts.push(word(1), pad(Buffer.from(`${name}\0`)));
  const end = (): number => parts.push(word(2));
  const prop = (name: string, value: Buffer): number => parts.push(word(3), word(value.length), word(nameoff(name)), pad(value));
  const str = (value: string): Buffer => Buffer.from(`${value}\0`);
  begin('');
  begin('images');
  for (let i = 0; i < images; i++) {
    begin(`img${i}`);
    prop('data', Buffer.from(`image ${i}`));
    begin('hash-1');
    prop('algo', str('sha256'));
    end();
    end();
  }
  parts.push(Buffer.alloc(4 * nops));
  for (let i = 0; i < nops; i++) parts[parts.length - 1]!.writeUInt32BE(4, 4 * i);
  end();
  begin('configurations');
  for (let i = 0; i < configs; i++) {
    begin(`conf-${i}`);
    prop('kernel', str('img0'));
    begin('signature-1');
    prop('algo', str('sha256,ecdsa256'));
    prop('key-name-hint', str('dev'));
    end();
    end();
  }
  end();
  end();
  parts.push(word(9));
  const structure = Buffer.concat(parts);
  const strings = Buffer.from(names.map((n) => `${n}\0`).join(''));
  const header = Buffer.concat(
    [0xd00dfeed, 56 + structure.length + strings.length, 56, 56 + structure.length, 40, 17, 16, 0, strings.length, structure.length].map(word),
  );
  return Buffer.concat([header, Buffer.alloc(16), structure, strings]);
}

t.test('FDT_NOP tags and repeated walks are bounded: the work is linear in the blob', async (t) => {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const signer = fileSigner(privateKey, describePublicKey(publicKey) as KeyFacts, null);
  const opts: FitSigningOptions = {
    algo: null,
    comment: null,
    timestamp: TIMESTAMP,
    signerName: 'signerd',
    signerVersion: 'test',
    keyDestination: null,
    requireKeys: false,
  };
  const refusal = async (fit: Buffer): Promise<string> => {
    try {
      await signFitImage(fit, () => signer, opts);
      return 'none';
    } catch (err) {
      return isDaemonError(err) ? `${err.code}: ${err.message}` : `not a DaemonError: ${String(err)}`;
    }
  };
  // The auditor's FIT, scaled down: each image used to walk every NOP of /images again, twice.
  t.equal(
    await refusal(hostileFit({ images: 50, nops: 65_537, configs: 1 })),
    'BAD_REQUEST: not a valid FIT (device tree): more than 65536 NOP tags',
    'more NOP tags than the bound are refused before any walk',
  );
  // 1,000 images behind 65,536 NOPs: /images is walked once for its images, not once per image (that
  // was about 200 million tags, past the tag bound); every hash lands in its own image after the edits
  // before it moved it.
  const signed = await signFitImage(hostileFit({ images: 1000, nops: 65_536, configs: 1 }), () => signer, opts);
  t.same(signed.signatures, [{ path: '/configurations/conf-0/signature-1', keyName: 'dev', algo: 'sha256,ecdsa256' }], 'the configuration is signed');
  const out = { buf: signed.image, highWater: signed.image.length, moved: 0, tagReads: 0 };
  for (const i of [0, 1, 500, 999]) {
    const hash = getProp(out, pathOffset(out, `/images/img${i}/hash-1`)!, 'value');
    t.same(hash, crypto.createHash('sha256').update(`image ${i}`).digest(), `img${i}'s hash value is its own`);
  }
  // Each configuration signature walks the tree for its regions (as mkimage does): hundreds of them over
  // a tree padded to the bounds are refused once the walks pass the bound, not after minutes.
  t.equal(
    await refusal(hostileFit({ images: 1, nops: 65_536, configs: 300 })),
    'BAD_REQUEST: not signed: its structure would be walked over more than 16777216 tags (too many signature nodes in too large a tree)',
    'signature nodes × tags is bounded',
  );
});
