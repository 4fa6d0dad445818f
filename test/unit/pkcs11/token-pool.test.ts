// The session pool on a real SoftHSM2 token: the per-call deadline (a timed-out session stays leased
// until its call returns), and session loss (BACKEND_UNAVAILABLE once, then an automatic reopen).
import t from 'tap';
import { createToken, needSoftHsm, SOFTHSM_MODULE } from '../../helpers/softhsm.js';
import { Pkcs11Token } from '../../../lib/keys/pkcs11-token.js';
import { acquireModule, releaseModule } from '../../../lib/keys/pkcs11-module.js';
import { listTokens } from '../../../lib/keys/pkcs11-slots.js';
import { openPkcs11SigningKey } from '../../../lib/keys/pkcs11-signing-key.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('session pool', needSoftHsm(), async (t) => {
  const token = createToken('pool-test');
  process.env['SOFTHSM2_CONF'] = token.env.SOFTHSM2_CONF;
  t.teardown(() => token.cleanup());
  token.pkcs11Tool(['--keypairgen', '--key-type', 'EC:secp384r1', '--label', 'ec', '--id', '01']);

  t.test('deadline: BACKEND_TIMEOUT, and the session is not reused before its call returns', async (t) => {
    const pool = Pkcs11Token.open({ modulePath: SOFTHSM_MODULE, selector: { token: token.label }, pin: token.pin, sessionsMax: 1, callMsMax: 100, reopenIntervalMs: 0 });
    t.teardown(() => pool.close());
    let slowDone = false;
    const slow = pool.withSession('slow call', async () => {
      await sleep(1_500); // stands in for an HSM that hangs far past the deadline
      slowDone = true;
      return 'late';
    });
    await t.rejects(slow, { code: 'BACKEND_TIMEOUT' });
    await t.rejects(pool.withSession('second call', async () => 'never'), { code: 'BACKEND_TIMEOUT' }, 'the one session is still leased');
    while (!slowDone) await sleep(50);
    await sleep(10);
    t.equal(await pool.withSession('third call', async () => 'ok'), 'ok', 'the session is back once the call returned');
  });

  t.test('session loss: one BACKEND_UNAVAILABLE, then the key signs again without reopening by hand', async (t) => {
    const key = await openPkcs11SigningKey(token.uri('ec'), 'ecdsa-p384-sha384', { callMsMax: 10_000, reopenIntervalMs: 0 });
    t.teardown(() => key.close());
    t.equal((await key.sign(Buffer.from('before'))).length, 96);
    // Another part of the process (or the device) closes every session: login state goes with them.
    const module = acquireModule(SOFTHSM_MODULE);
    const slot = listTokens(module.api).find((s) => s.label === token.label)!.slot;
    module.api.C_CloseAllSessions(slot);
    releaseModule(module);
    await t.rejects(key.sign(Buffer.from('during')), { code: 'BACKEND_UNAVAILABLE' });
    t.equal((await key.sign(Buffer.from('after'))).length, 96, 'reopened and logged in again');
  });
});
