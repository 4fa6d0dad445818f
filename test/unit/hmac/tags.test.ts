// Tag verification: length check before the constant-time compare, every accepted version tried.
import crypto from 'node:crypto';
import path from 'node:path';
import t from 'tap';
import { openSecretSet } from '../../../daemons/hmac/open-secret-set.js';
import { tagChunks, verifyChunks } from '../../../daemons/hmac/tags.js';
import { splitVerifyLine } from '../../../daemons/hmac/verify-service.js';
import { derivedDir } from './secret-fixtures.js';

const dir = derivedDir(path.join(t.testdir(), 'secrets'), [1, 2]);
const open = (accept: number[] | null) =>
  openSecretSet({ mode: 'derived', dir, mode32Files: 'all', keyVersion: null, acceptVersions: accept, readMsMax: 1000 });

t.test('verify', async (t) => {
  const set = open(null);
  const chunks = [Buffer.from('a'.repeat(2048)), Buffer.from('tail')];
  const tags = await tagChunks(set, chunks);
  t.same(
    tags.map((x) => x.keyId.split(':')[0]),
    ['v2', 'v2'],
  );
  const joined = Buffer.concat(tags.map((x) => x.tag));
  t.same(await verifyChunks(set, chunks, joined), { valid: true, version: 2 });
  t.same(await verifyChunks(set, chunks, joined.subarray(0, 32)), { valid: false, reason: 'wrong-length' });
  t.same(await verifyChunks(set, chunks, Buffer.alloc(0)), { valid: false, reason: 'wrong-length' });
  const flipped = Buffer.from(joined);
  flipped[40]! ^= 1;
  t.same(await verifyChunks(set, chunks, flipped), { valid: false, reason: 'mismatch' });
  const v1 = Buffer.concat((await tagChunks(set, chunks, 1)).map((x) => x.tag));
  t.same(await verifyChunks(set, chunks, v1), { valid: true, version: 1 }, 'retired version accepted while configured');
  t.same(await verifyChunks(open([]), chunks, v1), { valid: false, reason: 'mismatch' }, 'and refused once not');
  t.same(await verifyChunks(set, chunks, crypto.randomBytes(64)), { valid: false, reason: 'mismatch' });
});

t.test('verify line split', async (t) => {
  t.same(splitVerifyLine(Buffer.from('ab12 hello  world')), { tagText: 'ab12', data: Buffer.from('hello  world') });
  t.same(splitVerifyLine(Buffer.from('ab12\t  x')), { tagText: 'ab12', data: Buffer.from('x') });
  t.same(splitVerifyLine(Buffer.from('ab12')), { tagText: 'ab12', data: Buffer.alloc(0) });
});
