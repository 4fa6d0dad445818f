// The registry's line grammar (every problem is CONFIG_INVALID naming the line) and the per-client
// token bucket (a burst of `rate`, refills continuously, a channel costs at most the burst).
import t from 'tap';
import { createTokenBucket } from '../../../lib/channels/token-bucket.js';
import { DAEMON_NAMES, parseClientRegistry } from '../../../lib/channels/client-registry.js';
import { failureOf } from '../../helpers/error-codes.js';

const PIN = 'cert-sha256:' + 'ab'.repeat(32);
const PSK = 'psk:' + '01'.repeat(32);

t.test('registry lines', async (t) => {
  const registry = parseClientRegistry(
    ['# comment', '', `alice ${PIN} daemons=sign-ecdsa,hmac not-after=2030-01-01T00:00:00Z rate=5/s max-session=60   # trailing comment`, `pat ${PSK}`].join(
      '\n',
    ),
    'clients.txt',
  );
  const alice = registry.clients.get('alice')!;
  t.same([...alice.daemons!], ['sign-ecdsa', 'hmac']);
  t.equal(alice.notAfterMs, Date.parse('2030-01-01T00:00:00Z'));
  t.equal(alice.ratePerSecond, 5);
  t.equal(alice.maxSessionMs, 60_000);
  t.same(
    [...registry.byCertSha256.values()].map((c) => c.name),
    ['alice'],
    'certificates are found by pin',
  );
  t.equal(registry.clients.get('pat')!.credential.kind, 'psk');
  t.ok(DAEMON_NAMES.includes('tezos'), 'daemons= names every daemon');
  // `signerd log serve` guards its channels as log-serve: a mirror may be allowed it alone.
  t.same([...parseClientRegistry(`mirror ${PIN} daemons=log-serve`, 'clients.txt').clients.get('mirror')!.daemons!], ['log-serve'], 'daemons=log-serve');
  t.match(
    failureOf(() => parseClientRegistry(`alice ${PIN} daemons=printer`, 'clients.txt')).message,
    /daemons= takes a list of .*firmware, log-serve/,
    'the refusal lists log-serve',
  );

  const bad: Array<[string, string]> = [
    ['alice', 'no credential'],
    [`alice cert-sha256:abc`, 'a short pin'],
    [`alice psk:00`, 'a PSK under 32 bytes'],
    [`alice ${PIN} colour=blue`, 'an unknown option'],
    [`alice ${PIN} daemons=printer`, 'an unknown daemon'],
    [`alice ${PIN} rate=0/s`, 'a zero rate'],
    [`alice ${PIN} not-after=tomorrow`, 'a date that is not ISO 8601'],
    [`al ice ${PIN}`, 'a name with a space'],
  ];
  for (const [line, what] of bad) {
    const failure = failureOf(() => parseClientRegistry(`# first\n${line}\n`, 'clients.txt'));
    t.equal(failure.code, 'CONFIG_INVALID', what);
    t.match(failure.message, /line 2/, `${what}: names the line`);
  }
  // A PSK split by a space, or wrapped onto the next line: its pieces are never quoted back.
  const hex = '0123456789abcdef'.repeat(8);
  for (const [text, what, piece] of [
    [`pat psk:${hex.slice(0, 64)} ${hex.slice(64)}`, 'split by a space', hex.slice(64)],
    [`pat psk:${hex.slice(0, 64)}\n${hex.slice(64)}`, 'wrapped onto the next line', hex.slice(64)],
    [`pat psk:${hex.slice(0, 64)}\n${hex.slice(64, 72)}`, 'wrapped, 8 hex characters on the next line', hex.slice(64, 72)],
    [`pat psk:${hex.slice(0, 64)} ${hex.slice(64, 68)}`, 'split, 4 hex characters left', hex.slice(64, 68)],
  ] as const) {
    const failure = failureOf(() => parseClientRegistry(text, 'clients.txt'));
    t.equal(failure.code, 'CONFIG_INVALID', what);
    t.notMatch(failure.message, piece, `${what}: the rest of the key is not echoed`);
    t.match(failure.message, /looks like key material \(not shown\)/);
  }
  t.match(failureOf(() => parseClientRegistry(`alice ${PIN} colour=blue`, 'f')).message, /unknown option "colour"/, 'an option-like word is still named');
  // A piece of a PSK in text form (stunnel's identity:key files) on a registry line: never quoted.
  for (const piece of ['IyrPzYxYnOFECE53VFIGSUbgnd1j', 'Iy/rPz+Yx=Yn']) {
    const failure = failureOf(() => parseClientRegistry(`alice ${PIN} ${piece}`, 'f'));
    t.equal(failure.code, 'CONFIG_INVALID');
    t.notMatch(failure.message, piece.slice(0, 6), `${piece.slice(0, 4)}…: not echoed`);
  }
  t.equal(failureOf(() => parseClientRegistry(`a ${PIN}\na ${PSK}\n`, 'f')).code, 'CONFIG_INVALID', 'a duplicate name');
  t.equal(failureOf(() => parseClientRegistry(`a ${PIN}\nb ${PIN}\n`, 'f')).code, 'CONFIG_INVALID', 'one certificate under two names');
});

t.test('token bucket', async (t) => {
  const bucket = createTokenBucket(2, 0);
  t.same(bucket.take(1, 0), { ok: true });
  t.same(bucket.take(1, 0), { ok: true });
  const refused = bucket.take(1, 0);
  t.equal(refused.ok, false, 'the burst is the rate');
  t.equal(!refused.ok && refused.retryAfterMs, 500, 'and it says when a token is back');
  t.same(bucket.take(1, 500), { ok: true }, 'refilled continuously');
  const early = createTokenBucket(2, 1_000);
  t.same(early.take(2, 999), { ok: true }, 'a clock read a millisecond before the bucket was made drains nothing (a first channel was refused)');
  const slow = createTokenBucket(1, 0);
  t.same(slow.take(2, 0), { ok: true }, 'a channel costs at most the burst: rate=1/s can connect');
  t.equal(slow.take(1, 100).ok, false);
});
