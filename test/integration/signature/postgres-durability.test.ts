// PostgreSQL with a synchronous standby, for real: a revoke reports success only once the standby
// confirmed its commit; with the standby stopped it does not; --require-sync-standby refuses a primary
// that would not wait; a restarted primary costs errors (never a verdict) and service resumes by itself.
import t, { type Test } from 'tap';
import net from 'node:net';
import { runSignerd, startDaemon } from '../../helpers/daemon.js';
import { request } from '../../helpers/line-client.js';
import { needPostgres, startPostgres, type TestPostgres } from '../../helpers/postgres-server.js';
import { needTools } from '../../helpers/tools.js';
import { INVALID, VALID, makeKeys, signaturesOf } from '../../helpers/signature-fixtures.js';
import { retryUntil, sleep, until } from '../../helpers/polling.js';

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

  // A signer whose deadline is short: its record writes give up while the standby is away.
  const quick = await startDaemon(['sign-ecdsa', '--key', keys.privateKeyFile, '--port', '0', ...common, '--store-timeout-ms', '500']);
  t.teardown(() => quick.stop());
  await server.standby!.stop();
  const refusedSigns = await Promise.all(Array.from({ length: 12 }, (_, i) => request(quick.port, `no standby ${i}`)));
  t.ok(
    refusedSigns.every((r) => r.startsWith('ERR STORE_UNAVAILABLE ')),
    'a signature whose record the standby cannot confirm is not returned',
  );
  // Each write that gave up had its backend cancelled on the server: no pile of sessions waiting
  // for the standby (they would hold connection slots until it returned). At most the probes and
  // requests still inside their deadlines wait: the two signers' probes.
  await sleep(1_000);
  const waiting = Number((await server.sql("SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event = 'SyncRep'")).rows[0].n);
  t.ok(waiting <= 2, `${waiting} sessions wait for the standby (at most the two signers' probes)`);
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
  // And a running daemon finds out within its recheck (5 s): it refuses rather than sign on commits
  // that a failover could lose.
  const lapsed = await retryUntil(
    () => request(signer.port, 'no standby required any more'),
    (r) => r.startsWith('ERR '),
    8_000,
    200,
  );
  t.match(
    lapsed,
    /^ERR STORE_UNAVAILABLE .*--require-sync-standby: synchronous_standby_names is empty/,
    'a running signer stops signing when the standby requirement lapses',
  );
  await server.sql('ALTER SYSTEM RESET synchronous_standby_names');
  await server.sql('SELECT pg_reload_conf()');
  await until(async () => (await server.sql('SHOW synchronous_standby_names')).rows[0].synchronous_standby_names === 's1', 2_500, 50);
  const resumed = await retryUntil(
    () => request(signer.port, 'standby required again'),
    (r) => r.startsWith('(b'),
    8_000,
    200,
  );
  t.match(resumed, /^\(b'standby required again'/, 'and resumes by itself once it is back');

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

  await t.test('a URL that moves to a standby after start gives no verdict', (t) => movedUrlGivesNoVerdict(t, server));
});

/** The URL the verifier uses moves to the standby (a VIP, a proxy, DNS): an error, never a verdict from it. */
async function movedUrlGivesNoVerdict(t: Test, server: TestPostgres): Promise<void> {
  const keys = makeKeys(dir, 'ecdsa', 'pg-moved');
  // A proxy standing in for a VIP or DNS name: it forwards to the primary, then to the standby.
  let target = server.primary.port;
  const piped = new Set<net.Socket>();
  const proxy = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1');
    for (const s of [client, upstream]) {
      piped.add(s);
      s.on('error', () => undefined);
      s.on('close', () => piped.delete(s));
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of piped) s.destroy();
    proxy.close();
  });
  const port = (proxy.address() as net.AddressInfo).port;
  const movingUrl = server.url().replace(`:${server.primary.port}/`, `:${port}/`);
  const store = ['--store', 'postgres', '--postgres-sslmode', 'disable', '--store-timeout-ms', '5000'];
  const signer = await startDaemon(['sign-ecdsa', '--key', keys.privateKeyFile, '--port', '0', ...store, '--postgres-url', server.url()]);
  const verifier = await startDaemon(['verify-ecdsa', '--keyring', keys.publicKeyFile, '--port', '0', ...store, '--postgres-url', movingUrl]);
  t.teardown(async () => {
    await signer.stop();
    await verifier.stop();
  });
  const sig = signaturesOf(await request(signer.port, 'moved'))[0]!;
  t.equal(await request(verifier.port, sig), VALID.ecdsa);
  // The address now leads to the standby, and the verifier's connections are cut (a failover would).
  target = server.standby!.port;
  for (const s of piped) s.destroy();
  t.equal((await runSignerd(['revoke', sig, ...store, '--postgres-url', server.url()])).code, 0, 'revoked on the primary');
  const reply = await retryUntil(
    () => request(verifier.port, sig),
    (r) => r.startsWith('ERR '),
    5_000,
    100,
  );
  t.match(reply, /^ERR STORE_UNAVAILABLE .*standby/, 'the verifier answers from no standby: an error, never a verdict');
}
