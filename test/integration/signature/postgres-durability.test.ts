// PostgreSQL with a synchronous standby, for real: a revoke reports success only once the standby
// confirmed its commit; with the standby stopped it does not; --require-sync-standby refuses a primary
// that would not wait; a restarted primary costs errors (never a verdict) and service resumes by itself.
import t from 'tap';
import { runSignerd, startDaemon } from '../../helpers/daemon.js';
import { request } from '../../helpers/line-client.js';
import { needPostgres, startPostgres } from '../../helpers/postgres-server.js';
import { needTools } from '../../helpers/tools.js';
import { INVALID, VALID, makeKeys, signaturesOf } from '../../helpers/signature-fixtures.js';
import { retryUntil, until } from '../../helpers/polling.js';

const dir = t.testdir();
const EXIT_STORE_UNAVAILABLE = 69;

t.test('synchronous standby: revoke waits for it, refuses without it, resumes', { ...needTools('openssl'), ...needPostgres() }, async (t) => {
  const server = await startPostgres({ syncStandby: true });
  const keys = makeKeys(dir, 'ecdsa', 'pg-sync');
  const common = ['--store', 'postgres', '--postgres-url', server.url(), '--postgres-sslmode', 'disable', '--require-sync-standby'];
  // A deadline that must not fire while both servers fsync a confirmed commit, which a loaded
  // machine's disk can stretch; the short one only where it must fire (the revoke below).
  const store = [...common, '--store-timeout-ms', '5000'];
  const signer = await startDaemon(['sign-ecdsa', '--key', keys.privateKeyFile, '--port', '0', ...store]);
  const verifier = await startDaemon(['verify-ecdsa', '--keyring', keys.publicKeyFile, '--port', '0', ...store]);
  t.teardown(async () => {
    await signer.stop();
    await verifier.stop();
    await server.stop();
  });
  const sig = signaturesOf(await request(signer.port, 'replicated'))[0]!;
  t.equal(await request(verifier.port, sig), VALID.ecdsa);

  const revoked = await runSignerd(['revoke', sig, ...store]);
  t.equal(revoked.code, 0);
  t.match(revoked.stdout, /^revoked \(durable: postgres commit confirmed by synchronous standby .*synchronous_standby_names=s1\)/, 'says which commit');
  t.equal(await request(verifier.port, sig), INVALID.ecdsa);
  t.equal((await runSignerd(['reinstate', sig, ...store])).code, 0);

  await server.standby!.stop();
  const blocked = await runSignerd(['revoke', sig, ...common, '--store-timeout-ms', '500']);
  t.equal(blocked.code, EXIT_STORE_UNAVAILABLE, 'standby stopped: the revoke does not report success');
  t.notMatch(blocked.stdout, /revoked/);
  t.match(blocked.stderr, /STORE_UNAVAILABLE/);

  await server.standby!.start();
  // The cancelled commit stayed on the primary (Postgres commits locally first): bring the record
  // back, then a revoke succeeds again with the standby confirming it.
  const reinstated = await retryUntil(
    () => runSignerd(['reinstate', sig, ...store]),
    (r) => r.code !== EXIT_STORE_UNAVAILABLE,
    10_000,
    200,
  );
  t.not(reinstated.code, EXIT_STORE_UNAVAILABLE, 'standby back: writes are confirmed again');
  t.equal(await request(verifier.port, sig), VALID.ecdsa);
  t.equal((await runSignerd(['revoke', sig, ...store])).code, 0, 'revoke succeeds again');
  t.equal(await request(verifier.port, sig), INVALID.ecdsa);

  // A primary that would not wait for a standby is refused at start.
  await server.sql("ALTER SYSTEM SET synchronous_standby_names = ''");
  await server.sql('SELECT pg_reload_conf()');
  // The reload is asynchronous: wait until a new session sees it.
  await until(async () => (await server.sql('SHOW synchronous_standby_names')).rows[0].synchronous_standby_names === '', 2_500, 50);
  const refused = await runSignerd(['verify-ecdsa', '--keyring', keys.publicKeyFile, '--port', '0', ...store]);
  t.equal(refused.code, 78, '--require-sync-standby: no synchronous standby, no start');
  t.match(refused.stderr, /synchronous_standby_names is empty/);
  await server.sql('ALTER SYSTEM RESET synchronous_standby_names');
  await server.sql('SELECT pg_reload_conf()');
  await until(async () => (await server.sql('SHOW synchronous_standby_names')).rows[0].synchronous_standby_names === 's1', 2_500, 50);

  // The primary restarted: errors while it is away, never a verdict; then service resumes.
  await server.primary.stop();
  t.match(await request(verifier.port, sig), /^ERR STORE_UNAVAILABLE /, 'primary down: no verdict');
  t.match(await request(signer.port, 'during'), /^ERR STORE_UNAVAILABLE /, 'primary down: no signature');
  await server.primary.start();
  const reply = await retryUntil(
    () => request(signer.port, 'after'),
    (r) => r.startsWith('(b'),
    5_000,
    100,
  );
  t.match(reply, /^\(b'after', b'[0-9a-f]+'\)$/, 'signing resumed by itself');
  t.equal(await request(verifier.port, sig), INVALID.ecdsa, 'the revocation survived the restart');
});
