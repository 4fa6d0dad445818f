// The shared stores behind passwords and TLS, for real: a PostgreSQL primary that takes only TLS
// connections with a scram-sha-256 password and a client certificate, and a one-member etcd that
// takes only TLS clients with a certificate and has authentication on. Daemons sign and verify
// through them; a wrong password, CA or missing client certificate is refused at start with a clear
// line; no password reaches argv, logs or replies.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Command } from '@commander-js/extra-typings';
import t, { type Test } from 'tap';
import { addStoreOptions, storeSettings } from '../../../lib/config/store-options.js';
import { isDaemonError } from '../../../lib/errors.js';
import { openValidityStore } from '../../../lib/store/open-validity-store.js';
import { runSignerd, startDaemon, type RunningDaemon } from '../../helpers/daemon.js';
import { startEtcd, type TestEtcd } from '../../helpers/etcd-cluster.js';
import { request } from '../../helpers/line-client.js';
import { needPostgres, startPostgres, type TestPostgres } from '../../helpers/postgres-server.js';
import { makeKeys, signaturesOf, VALID } from '../../helpers/signature-fixtures.js';
import { makeTestCertificates, type TestCertificates } from '../../helpers/test-ca.js';
import { needTools } from '../../helpers/tools.js';

const dir = t.testdir();
const EXIT_CONFIG = 78;
/** Random, so finding it in any output can only mean it leaked. */
const PG_PASSWORD = `pg-${crypto.randomBytes(12).toString('hex')}`;
const ETCD_PASSWORD = `etcd-${crypto.randomBytes(12).toString('hex')}`;
const WRONG_PASSWORD = `wrong-${crypto.randomBytes(12).toString('hex')}`;
const SECRETS = [PG_PASSWORD, ETCD_PASSWORD, WRONG_PASSWORD];

function secretFile(name: string, text: string, mode = 0o600): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, `${text}\n`, { mode });
  fs.chmodSync(file, mode);
  return file;
}

/** Opens the store in this process exactly as a daemon would from these options and waits for it: the code it failed with, or 'ready'. */
async function openOutcome(storeArgs: string[]): Promise<{ code: string; message: string }> {
  const opts = addStoreOptions(new Command('probe')).parse(storeArgs, { from: 'user' }).opts();
  let store: Awaited<ReturnType<typeof openValidityStore>> | undefined;
  try {
    store = await openValidityStore(storeSettings(opts), { durable: false, create: true, log: { warn() {} }, logConnectionErrors: false });
    return (await store.ready(3_000)) ? { code: 'ready', message: '' } : { code: 'not ready', message: '' };
  } catch (err) {
    return { code: isDaemonError(err) ? err.code : 'not a DaemonError', message: (err as Error).message };
  } finally {
    await store?.close();
  }
}

/** Every place a secret could leak from a daemon: its argv, its log lines, its stderr. */
function assertNoSecrets(t: Test, what: string, outputs: string[]): void {
  t.notOk(
    SECRETS.some((secret) => outputs.some((o) => o.includes(secret))),
    `${what}: no password in argv, logs or stderr`,
  );
}
const daemonOutputs = (d: RunningDaemon): string[] => [fs.readFileSync(`/proc/${d.proc.pid}/cmdline`, 'utf8'), JSON.stringify(d.logs), d.stderr()];

/** Starts a signer and a verifier on one store, signs, verifies, and checks nothing leaked; both run until the subtest ends. */
async function signAndVerify(t: Test, storeArgs: string[], name: string): Promise<{ signer: RunningDaemon; verifier: RunningDaemon }> {
  const keys = makeKeys(dir, 'ecdsa', name);
  const [signer, verifier] = await Promise.all([
    startDaemon(['sign-ecdsa', '--key', keys.privateKeyFile, '--port', '0', ...storeArgs]),
    startDaemon(['verify-ecdsa', '--keyring', keys.publicKeyFile, '--port', '0', ...storeArgs]),
  ]);
  t.teardown(async () => {
    await signer.stop();
    await verifier.stop();
  });
  const sig = signaturesOf(await request(signer.port, 'through tls'))[0];
  t.ok(sig, 'signed through the store');
  t.equal(await request(verifier.port, sig ?? ''), VALID.ecdsa, 'verified through the store');
  assertNoSecrets(t, 'signer', daemonOutputs(signer));
  assertNoSecrets(t, 'verifier', daemonOutputs(verifier));
  return { signer, verifier };
}

/** A daemon whose store refuses it must exit 78 at start with one clear line, and leak nothing. */
async function refusedAtStart(t: Test, storeArgs: string[], reason: RegExp, name: string): Promise<void> {
  const keys = makeKeys(dir, 'ecdsa', name);
  const run = await runSignerd(['verify-ecdsa', '--keyring', keys.publicKeyFile, '--port', '0', ...storeArgs], undefined, undefined, 8_000);
  t.equal(run.code, EXIT_CONFIG, 'refused at start (exit 78), not left serving errors');
  t.match(run.stderr, /CONFIG_INVALID/);
  t.match(run.stderr, reason, 'says why');
  assertNoSecrets(t, 'refused daemon', [run.stdout, run.stderr]);
}

t.test('shared stores behind passwords and TLS', { ...needTools('openssl', 'etcd', 'etcdctl'), ...needPostgres() }, async (t) => {
  const certs: TestCertificates = makeTestCertificates(path.join(dir, 'tls'), 'signerd');
  // Both servers start at once: most of their start-up is waiting.
  const [pg, etcd]: [TestPostgres, TestEtcd] = await Promise.all([
    startPostgres({ tls: certs, clientCert: true, password: PG_PASSWORD }),
    startEtcd(1, { tls: certs, clientCertAuth: true, auth: { user: 'signerd', password: ETCD_PASSWORD, prefix: 'signerd/' } }),
  ]);
  t.teardown(async () => {
    await pg.stop();
    await etcd.stop();
  });

  await t.test('postgres: scram-sha-256 password, verify-full TLS, client certificate', async (t) => {
    const passwordFile = secretFile('pg-password', PG_PASSWORD);
    const tls = [
      '--postgres-sslmode',
      'verify-full',
      '--postgres-tls-ca',
      certs.ca,
      '--postgres-tls-cert',
      certs.clientCert,
      '--postgres-tls-key',
      certs.clientKey,
    ];
    const base = ['--store', 'postgres', '--postgres-url', pg.url(), '--store-timeout-ms', '1000'];
    const store = [...base, '--postgres-password-file', passwordFile, ...tls];
    await signAndVerify(t, store, 'pg-tls');
    const sessions = await pg.sql("SELECT s.ssl, s.client_dn FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'signerd'");
    t.ok(sessions.rows.length > 0, 'the daemons hold sessions');
    t.ok(
      sessions.rows.every((r: { ssl: boolean; client_dn: string }) => r.ssl && r.client_dn === '/CN=signerd'),
      'every session is TLS with the client certificate',
    );

    await refusedAtStart(
      t,
      [...base, '--postgres-password-file', secretFile('pg-wrong', WRONG_PASSWORD), ...tls],
      /password authentication failed/,
      'pg-refused',
    );

    const withCa = (ca: string): string[] => [
      ...store.slice(0, -6),
      '--postgres-tls-ca',
      ca,
      '--postgres-tls-cert',
      certs.clientCert,
      '--postgres-tls-key',
      certs.clientKey,
    ];
    const wrongCa = await openOutcome(withCa(certs.otherCa));
    t.equal(wrongCa.code, 'CONFIG_INVALID', 'a server certificate the given CA did not sign is refused');
    t.match(wrongCa.message, /certificate/);
    const noClientCert = await openOutcome([
      ...base,
      '--postgres-password-file',
      passwordFile,
      '--postgres-sslmode',
      'verify-full',
      '--postgres-tls-ca',
      certs.ca,
    ]);
    t.equal(noClientCert.code, 'CONFIG_INVALID', 'no client certificate: the server refuses, and so does the start');
    const plaintext = await openOutcome([...base, '--postgres-password-file', passwordFile, '--postgres-sslmode', 'disable']);
    t.equal(plaintext.code, 'CONFIG_INVALID', 'sslmode disable against a TLS-only server: refused by the server (pg_hba), a clear start failure');
    t.match(plaintext.message, /no encryption/);
    const loose = await openOutcome([...base, '--postgres-password-file', secretFile('pg-loose', PG_PASSWORD, 0o644), ...tls]);
    t.equal(loose.code, 'KEY_FILE_INSECURE', 'a password file others can read is refused');
  });

  await t.test('etcd: client TLS with a certificate, user and password', async (t) => {
    const passwordFile = secretFile('etcd-password', ETCD_PASSWORD);
    const endpoints = ['--store', 'etcd', '--etcd-endpoints', etcd.endpoints.join(','), '--store-timeout-ms', '1000'];
    // etcd's JSON gateway refuses a client certificate with a Common Name (below): this one has none.
    const tls = ['--etcd-tls-ca', certs.ca, '--etcd-tls-cert', certs.clientNoCnCert, '--etcd-tls-key', certs.clientNoCnKey];
    const store = [...endpoints, ...tls, '--etcd-user', 'signerd', '--etcd-password-file', passwordFile];
    const { signer, verifier } = await signAndVerify(t, store, 'etcd-tls');

    // A password change (like an idle token's expiry) invalidates the daemons' tokens: the next
    // request is refused before etcd applies anything, so it is sent again with a fresh token.
    etcd.etcdctl(['--user', `root:root-${ETCD_PASSWORD}`, 'user', 'passwd', 'signerd', '--interactive=false'], `${ETCD_PASSWORD}\n`);
    const sig = signaturesOf(await request(signer.port, 'after the token was revoked'))[0];
    t.ok(sig, 'signing goes on with a renewed token');
    t.equal(await request(verifier.port, sig ?? ''), VALID.ecdsa, 'verifying goes on with a renewed token');

    await refusedAtStart(
      t,
      [...endpoints, ...tls, '--etcd-user', 'signerd', '--etcd-password-file', secretFile('etcd-wrong', WRONG_PASSWORD)],
      /authentication failed/,
      'etcd-refused',
    );

    const wrongCa = await openOutcome([
      ...endpoints,
      '--etcd-tls-ca',
      certs.otherCa,
      '--etcd-tls-cert',
      certs.clientNoCnCert,
      '--etcd-tls-key',
      certs.clientNoCnKey,
    ]);
    t.equal(wrongCa.code, 'CONFIG_INVALID', 'a member certificate the given CA did not sign is refused');
    t.match(wrongCa.message, /certificate/);
    const noClientCert = await openOutcome([...endpoints, '--etcd-tls-ca', certs.ca, '--etcd-user', 'signerd', '--etcd-password-file', passwordFile]);
    t.equal(noClientCert.code, 'CONFIG_INVALID', 'no client certificate: the member refuses, and so does the start');
    const noUser = await openOutcome([...endpoints, ...tls]);
    t.equal(noUser.code, 'CONFIG_INVALID', 'no user while etcd requires one: refused at start');
    t.match(noUser.message, /permission denied/);
    const withCn = await openOutcome([
      ...endpoints,
      ...['--etcd-tls-ca', certs.ca, '--etcd-tls-cert', certs.clientCert, '--etcd-tls-key', certs.clientKey],
      ...['--etcd-user', 'signerd', '--etcd-password-file', passwordFile],
    ]);
    t.equal(withCn.code, 'CONFIG_INVALID', 'a client certificate with a CN: the gateway refuses it, and so does the start');
    t.match(withCn.message, /CommonName/, "etcd's own reason is passed on");
  });
});
