// Log entries: canonical JSON (sorted keys, no spaces, integers only), one shape per event kind,
// the signed bytes never present (only their SHA-256), and malformed events refused.
import t from 'tap';
import crypto from 'node:crypto';
import { codeOf } from '../../helpers/error-codes.js';
import { canonicalObject, jsonInteger, jsonString } from '../../../lib/transparency/canonical-json.js';
import { decodeLogEntry, encodeLogEntry, type LogEvent } from '../../../lib/transparency/log-entry.js';

const message = Buffer.from('the firmware image bytes');
const digest = crypto.createHash('sha256').update(message).digest();
const signature = Buffer.from('30440220' + 'ab'.repeat(32) + '0220' + 'cd'.repeat(32), 'hex');

/** RFC 8785 for what JSON.parse gives back (objects, strings, integers, booleans, null): the reference. */
function reference(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  const object = value as Record<string, unknown>;
  return `{${Object.keys(object)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${reference(object[k])}`)
    .join(',')}}`;
}

t.test('canonical JSON', async (t) => {
  t.equal(
    canonicalObject([
      ['b', '1'],
      [
        'a',
        canonicalObject([
          ['d', jsonString('x')],
          ['c', 'null'],
        ]),
      ],
      ['e', undefined],
      ['f', 'true'],
    ]),
    '{"a":{"c":null,"d":"x"},"b":1,"f":true}',
  );
  t.equal(
    canonicalObject([
      ['\u00e9', '1'],
      ['z', '2'],
      ['Z', '3'],
      ['\ud83d\ude00', '4'],
      ['\uffff', '5'],
    ]),
    '{"Z":3,"z":2,"\u00e9":1,"\ud83d\ude00":4,"\uffff":5}',
    'keys sorted by UTF-16 code units',
  );
  t.equal(jsonString('line\n"quoted"'), '"line\\n\\"quoted\\""');
  t.throws(() => jsonInteger(1.5), RangeError, 'no fractions');
  t.throws(() => jsonInteger(2 ** 53), RangeError, 'no unsafe integers');
});

t.test('a sign entry', async (t) => {
  const event: LogEvent = {
    kind: 'sign',
    source: 'firmware',
    keyId: 'a1b2c3d4e5f60718',
    algorithm: 'rsa-pss-sha256',
    messageSha256: digest,
    signature,
    firmware: { format: 'swupdate', artifact: 'image-1.2.swu' },
    timeMs: 1_700_000_000_000,
  };
  const encoded = encodeLogEntry(event, 0);
  const text = encoded.bytes.toString('utf8');
  t.equal(
    text,
    `{"algorithm":"rsa-pss-sha256","firmware":{"artifact":"image-1.2.swu","format":"swupdate"},"keyId":"a1b2c3d4e5f60718","kind":"sign","messageSha256":"${digest.toString('hex')}","signature":"${signature.toString('hex')}","source":"firmware","timeMs":1700000000000,"v":1}`,
  );
  t.same(encoded.signature, signature, 'the signature is the lookup key');
  t.notOk(encoded.bytes.includes(message), 'the signed bytes are not in the entry');
  t.equal(encodeLogEntry(event, 0).bytes.toString('utf8'), text, 'reproducible');
  t.same(decodeLogEntry(encoded.bytes)?.['kind'], 'sign');
  t.equal(
    encodeLogEntry({ ...event, timeMs: undefined }, 42)
      .bytes.toString('utf8')
      .includes('"timeMs":42'),
    true,
    'the appender fills in the time',
  );
});

t.test('every kind encodes', async (t) => {
  const events: LogEvent[] = [
    {
      kind: 'sign',
      source: 'tezos',
      keyId: 'tz1VSUr8wwNhLAzempoch5d6hLRiTh8Cjcjb',
      algorithm: 'ed25519',
      messageSha256: digest,
      signature,
      tezos: { chainId: 'NetXdQprcVkpaWU', requestKind: 'attestation', level: 5_000_000, round: 0 },
    },
    // A generic operation: no chain, level or round.
    {
      kind: 'sign',
      source: 'tezos',
      keyId: 'tz1VSUr8wwNhLAzempoch5d6hLRiTh8Cjcjb',
      algorithm: 'ed25519',
      messageSha256: digest,
      signature,
      tezos: { requestKind: 'generic' },
    },
    // A firmware digest flow with SHA-512: the digest as given, no SHA-256 of bytes never seen.
    {
      kind: 'sign',
      source: 'firmware',
      keyId: 'k',
      algorithm: 'rsa-pkcs1-sha512',
      signature,
      firmware: { format: 'kmodsign', digest: `sha512:${'ab'.repeat(64)}` },
    },
    { kind: 'revoke', source: 'admin', signature },
    { kind: 'reinstate', source: 'admin', signature, expiresMs: null },
    { kind: 'expire', source: 'admin', signature, expiresMs: 1_800_000_000_000 },
    {
      kind: 'watermark-set',
      source: 'admin',
      chainId: 'NetXdQprcVkpaWU',
      pkh: 'tz1VSUr8wwNhLAzempoch5d6hLRiTh8Cjcjb',
      requestKind: 'block',
      level: 10,
      round: 1,
      forced: true,
    },
    {
      kind: 'watermark-import',
      source: 'admin',
      chainId: 'NetXdQprcVkpaWU',
      pkh: 'tz1VSUr8wwNhLAzempoch5d6hLRiTh8Cjcjb',
      requestKind: 'attestation',
      level: 10,
      round: 0,
      forced: false,
    },
    {
      kind: 'key-loaded',
      source: 'sign-ecdsa',
      keyId: 'a1b2c3d4e5f60718',
      algorithm: 'ecdsa-p384',
      backend: 'pkcs11',
      publicKey: Buffer.from('3076301006072a8648ce3d020106052b81040022', 'hex'),
    },
  ];
  for (const e of events) {
    const bytes = encodeLogEntry({ ...e, client: 'client-\u00e9' }, 1).bytes;
    const decoded = decodeLogEntry(bytes);
    t.equal(decoded?.['kind'], e.kind, e.kind);
    t.equal(bytes.toString('utf8'), reference(decoded), `${e.kind}: the RFC 8785 form`);
  }
});

t.test('malformed events are refused with BAD_REQUEST', async (t) => {
  const sign = { kind: 'sign', source: 'sign-rsa', keyId: 'k', algorithm: 'a', messageSha256: digest, signature } as const;
  const bad: Array<[string, unknown]> = [
    ['digest of the wrong length', { ...sign, messageSha256: Buffer.alloc(31) }],
    ['the message instead of its digest', { ...sign, messageSha256: message }],
    ['empty signature', { ...sign, signature: Buffer.alloc(0) }],
    ['hex text instead of bytes', { ...sign, signature: signature.toString('hex') }],
    ['no source', { ...sign, source: '' }],
    ['a huge field', { ...sign, keyId: 'k'.repeat(1025) }],
    ['negative level', { ...sign, tezos: { requestKind: 'block', level: -1, round: 0 } }],
    ['no digest at all', { ...sign, messageSha256: undefined }],
    ['a firmware entry without a digest', { ...sign, messageSha256: undefined, firmware: { format: 'kmodsign' } }],
    ['fractional time', { ...sign, timeMs: 1.5 }],
    ['unknown kind', { ...sign, kind: 'delete' }],
    ['unknown backend', { kind: 'key-loaded', source: 'x', keyId: 'k', algorithm: 'a', backend: 'cloud' }],
  ];
  for (const [what, event] of bad)
    t.equal(
      codeOf(() => encodeLogEntry(event as LogEvent, 1)),
      'BAD_REQUEST',
      what,
    );
  t.equal(decodeLogEntry(Buffer.from('{"v":2,"kind":"sign"}')), null, 'another version');
  t.equal(decodeLogEntry(Buffer.from('not json')), null, 'not JSON');
});
