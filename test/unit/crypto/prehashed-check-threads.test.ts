// ECDSA digest checks on worker threads (lib/crypto/prehashed-check-threads.ts): the same answers as
// the verifier on the event loop, many checks in flight at once, and a worker that stops rejects
// what it held with INTERNAL (never a hang, never "valid" unchecked); the next check starts a new worker.
import crypto from 'node:crypto';
import t from 'tap';
import { checkPrehashed, stopPrehashedChecks } from '../../../lib/crypto/prehashed-check-threads.js';
import type { DaemonError } from '../../../lib/errors.js';
import { prehashedSignerOf, prehashedVerifierOf } from '../../../lib/crypto/prehashed-ecdsa.js';

t.teardown(stopPrehashedChecks);

const CURVES = [
  ['prime256v1', 32],
  ['secp384r1', 48],
  ['secp256k1', 32],
] as const;

function signed(namedCurve: string, bytes: number, count: number) {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve });
  const signer = prehashedSignerOf(privateKey);
  return {
    publicKey,
    cases: Array.from({ length: count }, (_, i) => {
      const digest = crypto.randomBytes(bytes);
      const signature = signer.sign(digest, i % 2 === 0);
      if (i % 3 === 1) signature[i % signature.length]! ^= 0x10; // a third are tampered
      return { digest, signature };
    }),
  };
}

t.test('answers as the event-loop verifier does, with many checks in flight', async (t) => {
  for (const [name, bytes] of CURVES) {
    const { publicKey, cases } = signed(name, bytes, 60);
    const threaded = await Promise.all(cases.map((c, i) => checkPrehashed(publicKey, c.digest, c.signature, i % 4 === 0)));
    const inline = cases.map((c, i) => prehashedVerifierOf(publicKey).verify(c.digest, c.signature, i % 4 === 0));
    t.same(threaded, inline, `${name}: 60 checks agree`);
    t.equal(threaded.filter((ok) => ok).length, 40, `${name}: the 40 untampered signatures verify`);
  }
});

t.test('a stopped worker rejects what it held with INTERNAL; the next check starts a new one', async (t) => {
  const { publicKey, cases } = signed('prime256v1', 32, 30);
  const untampered = cases.filter((_, i) => i % 3 !== 1);
  const inFlight = untampered.map((c) =>
    checkPrehashed(publicKey, c.digest, c.signature, false).then(
      (ok) => ({ ok, code: null }),
      (err: DaemonError) => ({ ok: false, code: err.code }),
    ),
  );
  await stopPrehashedChecks();
  const answers = await Promise.all(inFlight);
  t.equal(answers.length, untampered.length, 'every check in flight was settled');
  t.ok(
    answers.every((a) => a.ok === true || a.code === 'INTERNAL'),
    `${answers.filter((a) => a.ok).length} verified before the stop, the rest refused with INTERNAL (never false for a good signature)`,
  );
  t.equal(await checkPrehashed(publicKey, untampered[0]!.digest, untampered[0]!.signature, false), true, 'a new worker checks');
  t.equal(await checkPrehashed(publicKey, cases[1]!.digest, cases[1]!.signature, false), false, 'and refuses a tampered one');
});
