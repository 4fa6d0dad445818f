// The MAC and verify line protocols in every secret mode, tag for tag against the independent
// Python reference over the same secret files, plus chunking, JSON replies and nc.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import t from 'tap';
import { exchange, request } from '../../helpers/line-client.js';
import { needTools } from '../../helpers/tools.js';
import { murmur3x86_32 } from '../../../daemons/hmac/murmur3.js';
import { hex, hmacVectors } from '../../unit/hmac/hmac-vectors.js';
import { derivedDir, mode16Dir, mode32Dir, singleDir } from '../../unit/hmac/secret-fixtures.js';
import { randomMessage, referenceTags, startHmac } from './hmac-fixtures.js';

const base = t.testdir();
const line = (m: Buffer): Buffer => Buffer.concat([m, Buffer.from('\n')]);
const vectorMessages = hmacVectors<{ dataHex: string }>('cryptoserver-selection.json')
  .map((c) => hex(c.dataHex))
  .filter((m) => m.some((b) => b !== 0)); // the 32-zero-byte vector is added on its own below
const messages = [...vectorMessages, Buffer.from('a'), Buffer.from('a b\tc'), ...Array.from({ length: 12 }, (_, i) => randomMessage(1 + i * 37, i))];

/** A message whose mode32 file number is below 0x1000 (the seed's unpadded-name bug hits these). */
function lowFileMessage(): Buffer {
  for (let i = 0; ; i++) {
    const m = Buffer.from(`low-file-${i}`);
    if (murmur3x86_32(m) >>> 16 < 0x1000) return m;
  }
}

const opts = needTools('python3');

t.test('tags equal the Python reference in every mode', opts, async (t) => {
  const zeros = Buffer.alloc(32);
  const low = lowFileMessage();
  const all = [...messages, zeros, low];
  const fileOf = (m: Buffer): string => (murmur3x86_32(m) >>> 16).toString(16).padStart(4, '0');
  const m32Names = [...new Set(all.map(fileOf))].map((name, i) => (i % 2 === 0 ? name : name.replace(/^0+(?=.)/, '')));
  const dirs = {
    single: singleDir(path.join(base, 'single')),
    mode16: mode16Dir(path.join(base, 'mode16')),
    mode32: mode32Dir(path.join(base, 'mode32'), m32Names),
    derived: derivedDir(path.join(base, 'derived'), [1]),
  };
  for (const [mode, dir] of Object.entries(dirs)) {
    const extra = mode === 'mode32' ? ['--mode32-files', 'present'] : [];
    const daemon = await startHmac(['--mode', mode, '--secret-dir', dir, ...extra]);
    t.teardown(() => daemon.stop());
    const expected = referenceTags(mode, dir, all);
    const replies = await exchange(daemon.port, all.map(line));
    t.same(
      replies,
      expected.map((e) => e.tag),
      `${mode}: ${all.length} tags equal the reference`,
    );
    const verdicts = await exchange(
      daemon.ports[1]!,
      all.map((m, i) => line(Buffer.concat([Buffer.from(expected[i]!.tag + ' '), m]))),
    );
    t.same(
      verdicts,
      all.map(() => 'Valid.'),
      `${mode}: the verify listener accepts them`,
    );
    t.same(
      expected.map((e) => e.hash),
      all.map((m) => murmur3x86_32(m)),
      `${mode}: Python's MurmurHash3 agrees`,
    );
  }
});

t.test('chunks, JSON replies, verify rejects', opts, async (t) => {
  const dir = derivedDir(path.join(base, 'chunks'), [3]);
  const daemon = await startHmac(['--mode', 'derived', '--secret-dir', dir]);
  const json = await startHmac(['--mode', 'derived', '--secret-dir', dir, '--reply', 'json']);
  t.teardown(async () => {
    await daemon.stop();
    await json.stop();
  });
  const big = randomMessage(5000, 99);
  const parts = [big.subarray(0, 2048), big.subarray(2048, 4096), big.subarray(4096)];
  const expected = referenceTags('derived', dir, parts, 3).map((e) => e.tag);
  t.equal(await request(daemon.port, line(big)), expected.join(' '), 'one tag per 2048-byte chunk, joined by spaces');
  const reply = JSON.parse(await request(json.port, line(big))) as { mode: string; keyVersion: number; tags: string[]; keyIds: string[] };
  t.same(reply.tags, expected);
  t.equal(reply.mode, 'derived');
  t.equal(reply.keyVersion, 3);
  t.equal(reply.keyIds[0], `v3:${murmur3x86_32(parts[0]!)}`);

  const verify = daemon.ports[1]!;
  const v = (tag: string, data: Buffer): Promise<string> => request(verify, line(Buffer.concat([Buffer.from(tag + ' '), data])));
  t.equal(await v(expected.join(''), big), 'Valid.', 'multi-chunk data: tags concatenated');
  t.equal(await v(expected[0]!.toUpperCase() + expected[1] + expected[2], big), 'Valid.', 'hex case does not matter');
  t.equal(await v(expected.slice(0, 2).join(''), big), 'Invalid.', 'too few tags: wrong length');
  t.equal(await v(expected.join('') + '00', big), 'Invalid.', 'one byte too many');
  t.equal(await v(expected[0]!.slice(0, 62), parts[0]!), 'Invalid.', 'truncated tag');
  t.equal(
    await v(
      expected.join('').replace(/^./, (c) => (c === '0' ? '1' : '0')),
      big,
    ),
    'Invalid.',
    'one flipped nibble',
  );
  t.equal(await v(expected.join(''), Buffer.concat([big, Buffer.from('x')])), 'Invalid.', 'other data');
  t.equal(await v('zz', big), 'ERR BAD_REQUEST tag is not hex');
  t.equal(await v('abc', big), 'ERR BAD_REQUEST tag is not hex', 'odd length');
  t.match(await request(verify, 'deadbeef'), /^ERR BAD_REQUEST /, 'no data');
  t.match(JSON.parse(await request(json.ports[1]!, line(Buffer.concat([Buffer.from(expected.join('') + ' '), big])))), {
    valid: true,
    mode: 'derived',
    keyVersion: 3,
  });
  t.same(JSON.parse(await request(json.ports[1]!, `${'00'.repeat(32)} x`)), { valid: false, reason: 'mismatch' });
});

t.test('nc: the README examples', needTools('nc', 'python3'), async (t) => {
  const dir = singleDir(path.join(base, 'nc'));
  const daemon = await startHmac(['--secret-dir', dir]);
  t.teardown(() => daemon.stop());
  const [expected] = referenceTags('single', dir, [Buffer.from('hello world')]);
  const tag = execFileSync('sh', ['-c', `printf 'hello world\\n' | nc 127.0.0.1 ${daemon.port}`], { encoding: 'utf8' }).trim();
  t.equal(tag, expected!.tag, 'printf ... | nc 127.0.0.1 9850');
  const verdict = execFileSync('sh', ['-c', `printf '%s hello world\\n' ${tag} | nc 127.0.0.1 ${daemon.ports[1]}`], { encoding: 'utf8' }).trim();
  t.equal(verdict, 'Valid.', 'printf "<tag> hello world" | nc 127.0.0.1 9851');
});
