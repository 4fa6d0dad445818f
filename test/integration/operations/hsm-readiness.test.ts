// Readiness proves the HSM key can sign: a key object deleted from the SoftHSM token while sign-ecdsa
// runs turns /readyz to 503 naming the key and the backend's reason: at once after the first request
// that meets the backend failure (the key is probed again then), not only on the 10 s probe schedule.
import t from 'tap';
import path from 'node:path';
import { runSignerd, startDaemon } from '../../helpers/daemon.js';
import { request } from '../../helpers/line-client.js';
import { get, metricsPortOf, sample, waitUntil } from '../../helpers/operations.js';
import { createToken, needSoftHsm } from '../../helpers/softhsm.js';

t.test('HSM key deleted → not ready, with the reason', needSoftHsm(), async (t) => {
  const token = createToken('ready-test');
  t.teardown(() => token.cleanup());
  const made = await runSignerd(['hsm', 'generate', '--key', token.uri('ec'), '--for', 'sign-ecdsa'], '', token.env);
  t.equal(made.code, 0, made.stderr);
  const sign = await startDaemon(['sign-ecdsa', '--key', token.uri('ec'), '--state-dir', path.join(token.dir, 'state'), '--port', '0', '--metrics-port', '0'], {
    env: token.env,
  });
  t.teardown(() => sign.stop());
  const ops = metricsPortOf(sign);
  await waitUntil(async () => (await get(ops, '/readyz')).status === 200, 3_000, 'ready');
  const metrics = (await get(ops, '/metrics')).body;
  t.match(metrics, /signerd_key_info\{key_id="[0-9a-f]+",algorithm="ecdsa-p384-sha384",backend="pkcs11"/);
  t.notMatch(metrics + (await get(ops, '/readyz')).body, token.pinFile, 'no PIN source');
  t.ok((sample(metrics, 'signerd_hsm_sessions_open') ?? 0) >= 1, 'the session pool is shown');
  t.equal(sample(metrics, 'signerd_hsm_sessions_in_use'), 0, 'no session leased between requests');
  t.equal(sample(metrics, 'signerd_hsm_reopens_total'), 0, 'no reopen yet');

  token.deleteKeyPair('ec');
  t.match(await request(sign.port, 'after the delete'), /^ERR BACKEND_UNAVAILABLE/);
  t.pass(`503 ${await waitUntil(async () => (await get(ops, '/readyz')).status === 503, 2_000, 'not ready')} ms after the failed request`);
  const body = JSON.parse((await get(ops, '/readyz')).body) as { notReady: Record<string, string> };
  const [part, reason] = Object.entries(body.notReady)[0] ?? [];
  t.match(part, /^key [0-9a-f]+$/);
  t.match(reason, /^(BACKEND_UNAVAILABLE|SIGNATURE_CHECK_FAILED|BACKEND_TIMEOUT): /, `reason: ${reason}`);
  t.equal(sample((await get(ops, '/metrics')).body, 'signerd_readiness', { part: part! }), 0);
});
