// The session pool on a real SoftHSM2 token: the per-call deadline (a timed-out session stays leased
// until its call returns), session loss (BACKEND_UNAVAILABLE once, then an automatic reopen), and a
// PIN refused on reopen (tried once per token however many connections it has, then never again).
import t from 'tap';
import { createToken, needSoftHsm, SOFTHSM_MODULE } from '../../helpers/softhsm.js';
import { Pkcs11Token } from '../../../lib/keys/pkcs11-token.js';
import { acquireModule, releaseModule } from '../../../lib/keys/pkcs11-module.js';
import { listTokens } from '../../../lib/keys/pkcs11-slots.js';
import { openPkcs11SigningKey } from '../../../lib/keys/pkcs11-signing-key.js';
import { sleep, until } from '../../helpers/polling.js';

t.test('session pool', needSoftHsm(), async (t) => {
  const token = createToken('pool-test');
  process.env['SOFTHSM2_CONF'] = token.env.SOFTHSM2_CONF;
  t.teardown(() => token.cleanup());
  token.pkcs11Tool(['--keypairgen', '--key-type', 'EC:secp384r1', '--label', 'ec', '--id', '01']);

  t.test('deadline: BACKEND_TIMEOUT, and the session is not reused before its call returns', async (t) => {
    const pool = Pkcs11Token.open({
      modulePath: SOFTHSM_MODULE,
      selector: { token: token.label },
      pin: token.pin,
      sessionsMax: 1,
      callMsMax: 100,
      reopenIntervalMs: 0,
    });
    t.teardown(() => pool.close());
    let slowDone = false;
    const slow = pool.withSession('slow call', async () => {
      await sleep(1_500); // stands in for an HSM that hangs far past the deadline
      slowDone = true;
      return 'late';
    });
    await t.rejects(slow, { code: 'BACKEND_TIMEOUT' });
    await t.rejects(
      pool.withSession('second call', async () => 'never'),
      { code: 'BACKEND_TIMEOUT' },
      'the one session is still leased',
    );
    await until(() => slowDone, 5_000, 50);
    await sleep(10); // the lease is given back just after the call returns
    t.equal(await pool.withSession('third call', async () => 'ok'), 'ok', 'the session is back once the call returned');
  });

  t.test('a token that holds fewer sessions than the pool (CKR_SESSION_COUNT): calls wait for one, none is refused', async (t) => {
    const pool = Pkcs11Token.open({
      modulePath: SOFTHSM_MODULE,
      selector: { token: token.label },
      pin: token.pin,
      sessionsMax: 8,
      callMsMax: 5_000,
      reopenIntervalMs: 0,
    });
    t.teardown(() => pool.close());
    // The real token, with the module's C_OpenSession answering CKR_SESSION_COUNT past two open
    // sessions, as a token with a session limit (or other processes' sessions) does.
    const module = acquireModule(SOFTHSM_MODULE);
    const api = module.api as unknown as Record<string, (...args: unknown[]) => unknown>;
    const open = api['C_OpenSession']!.bind(module.api);
    let opened = 1; // the pool's first session, opened with the token
    api['C_OpenSession'] = (...args: unknown[]) => {
      if (opened >= 2) throw Object.assign(new Error('CKR_SESSION_COUNT:177'), { name: 'Pkcs11Error' });
      opened++;
      return open(...args);
    };
    t.teardown(() => {
      api['C_OpenSession'] = open;
      releaseModule(module);
    });
    let atOnce = 0;
    let most = 0;
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) =>
        pool.withSession(`call ${i}`, async () => {
          most = Math.max(most, ++atOnce);
          await sleep(30);
          atOnce--;
          return i;
        }),
      ),
    );
    t.same(
      results.map((r) => r.status),
      Array(8).fill('fulfilled'),
      'every call was served (before: ERR BUSY at once for each past the second)',
    );
    t.equal(most, 2, 'two at a time, on the two sessions the token holds');
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
  t.test('a PIN refused on reopen: one C_Login for all connections to the token, then none', async (t) => {
    const open = (): Pkcs11Token =>
      Pkcs11Token.open({ modulePath: SOFTHSM_MODULE, selector: { token: token.label }, pin: token.pin, sessionsMax: 1, callMsMax: 5_000, reopenIntervalMs: 0 });
    const pools = [open(), open(), open()];
    const module = acquireModule(SOFTHSM_MODULE);
    const api = module.api;
    const realLogin = api.C_Login.bind(api);
    let logins = 0;
    api.C_Login = (...args: Parameters<typeof realLogin>) => {
      logins++;
      return realLogin(...args);
    };
    t.teardown(async () => {
      api.C_Login = realLogin;
      for (const pool of pools) await pool.close();
      releaseModule(module);
      token.changePin(token.pin, 'changed-0815');
    });
    const probe = (pool: Pkcs11Token): Promise<unknown> => pool.withSession('probe', async (ctx) => ctx.api.C_GetSessionInfo(ctx.session));
    for (const pool of pools) await probe(pool);

    token.changePin('changed-0815');
    api.C_CloseAllSessions(listTokens(api).find((s) => s.label === token.label)!.slot);
    for (const pool of pools) await t.rejects(probe(pool), { code: 'BACKEND_UNAVAILABLE' }, 'the lost session');
    for (let round = 0; round < 3; round++) {
      for (const pool of pools) await t.rejects(probe(pool), { code: 'BACKEND_UNAVAILABLE', message: /refused the PIN after a reopen/ }, `round ${round}`);
    }
    t.equal(logins, 1, 'the token saw one login with the wrong PIN');
  });
});
