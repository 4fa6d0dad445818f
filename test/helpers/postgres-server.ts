// A real PostgreSQL for tests: postgres on a copy of one initdb'd directory under a temp dir, on a
// free loopback port; on demand a streaming standby that the primary waits for
// (synchronous_standby_names), or TCP clients held to TLS, a scram-sha-256 password and a client
// certificate. Run as the `postgres` user when the tests run as root (initdb refuses root). Stopped
// with SIGQUIT (an immediate shutdown, like a crash: WAL replay on the next start). The helper
// itself talks to the server over its Unix socket.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from './ports.js';
import type { TestCertificates } from './test-ca.js';
import { until } from './polling.js';

interface TestPostgresNode {
  readonly port: number;
  readonly dataDir: string;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export interface TestPostgres {
  readonly primary: TestPostgresNode;
  /** Present with `syncStandby`: the primary's commits wait for it. */
  readonly standby: TestPostgresNode | null;
  /** postgres://signerd@127.0.0.1:<port>/<database> (trust authentication on loopback unless `password`). */
  url(database?: string): string;
  /** Runs SQL on the primary as the superuser over the Unix socket (database "postgres" unless given). */
  sql(text: string, database?: string): Promise<pg.QueryResult>;
  /** Creates a database and returns its URL: one per test keeps tests apart on one server. */
  createDatabase(name: string): Promise<string>;
  stop(): Promise<void>;
}

const USER = 'signerd';

/** The newest installed server's bin directory (Debian: /usr/lib/postgresql/<major>/bin). */
function postgresBinDir(): string | null {
  const root = '/usr/lib/postgresql';
  if (!fs.existsSync(root)) return null;
  const majors = fs
    .readdirSync(root)
    .filter((d) => fs.existsSync(path.join(root, d, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return majors[0] ? path.join(root, majors[0], 'bin') : null;
}

/** uid/gid to run the server as: ourselves, or the Debian `postgres` user when we are root. */
function serverIdentity(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

interface StartOptions {
  syncStandby?: boolean;
  /** TCP clients must use TLS (hostssl): the server presents `tls.serverCert` (CN/SAN 127.0.0.1). */
  tls?: TestCertificates;
  /** With `tls`: TCP clients must also present a certificate signed by `tls.ca` (clientcert=verify-full). */
  clientCert?: boolean;
  /** TCP clients authenticate with scram-sha-256 and this password (the Unix socket stays trusted). */
  password?: string;
}

export async function startPostgres(opts: StartOptions = {}): Promise<TestPostgres> {
  if (opts.syncStandby && (opts.tls || opts.password)) throw new Error('startPostgres: a standby replicates over trusted loopback TCP only');
  const bin = postgresBinDir();
  if (bin === null) throw new Error('no PostgreSQL server installed (/usr/lib/postgresql/*/bin)');
  const identity = serverIdentity();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signerd-pg-'));
  if (identity) fs.chownSync(dir, identity.uid, identity.gid);
  const run = (tool: string, args: string[]): void => {
    execFileSync(path.join(bin, tool), args, { stdio: ['ignore', 'ignore', 'pipe'], ...(identity ?? {}) });
  };
  const primaryDir = path.join(dir, 'primary');
  execFileSync('cp', ['-a', initializedDataDir(bin, identity), primaryDir]);
  const primaryPort = await freePort();
  const standbyPort = opts.syncStandby ? await freePort() : 0;
  const common = ['-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${dir}`, '-c', 'shared_buffers=16MB', '-c', 'max_connections=100'];
  // In the configuration file rather than on the command line, so a test can change it with ALTER SYSTEM.
  if (opts.syncStandby) fs.appendFileSync(path.join(primaryDir, 'postgresql.conf'), "synchronous_standby_names = 's1'\nwal_keep_size = 64MB\n");
  if (opts.tls || opts.password) secureTcp(primaryDir, opts, identity);
  const primary = serverNode(bin, primaryDir, primaryPort, common, identity, dir);
  await primary.start();
  if (opts.password) await query(dir, primaryPort, 'postgres', `ALTER ROLE ${USER} PASSWORD '${opts.password.replace(/'/g, "''")}'`);
  let standby: TestPostgresNode | null = null;
  if (opts.syncStandby) {
    const standbyDir = path.join(dir, 'standby');
    run('pg_basebackup', ['-h', '127.0.0.1', '-p', String(primaryPort), '-U', USER, '-D', standbyDir, '-X', 'stream', '--no-sync']);
    fs.appendFileSync(
      path.join(standbyDir, 'postgresql.auto.conf'),
      `primary_conninfo = 'host=127.0.0.1 port=${primaryPort} user=${USER} application_name=s1'\n`,
    );
    fs.writeFileSync(path.join(standbyDir, 'standby.signal'), '');
    if (identity) for (const f of ['postgresql.auto.conf', 'standby.signal']) fs.chownSync(path.join(standbyDir, f), identity.uid, identity.gid);
    standby = serverNode(bin, standbyDir, standbyPort, common, identity, dir);
    await standby.start();
  }
  const url = (database = 'postgres'): string => `postgres://${USER}@127.0.0.1:${primaryPort}/${database}`;
  const sql = (text: string, database = 'postgres'): Promise<pg.QueryResult> => query(dir, primaryPort, database, text);
  return {
    primary,
    standby,
    url,
    sql,
    async createDatabase(name) {
      await sql(`CREATE DATABASE ${name}`);
      return url(name);
    },
    async stop() {
      await standby?.stop();
      await primary.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

const INITDB_ARGS = ['-U', USER, '--auth=trust', '-E', 'UTF8', '--no-sync', '--no-instructions'];

/**
 * A pristine data directory made by initdb once per machine and server version, then copied for each
 * server (a copy takes a fifth of initdb's second). Made under a private name and renamed into place,
 * so test files starting together never see half of one; kept in the temp dir between runs.
 */
function initializedDataDir(bin: string, identity: { uid: number; gid: number } | null): string {
  const version = createHash('sha256')
    .update([bin, fs.statSync(path.join(bin, 'initdb')).mtimeMs, ...INITDB_ARGS].join('\n'))
    .digest('hex')
    .slice(0, 12);
  const template = path.join(os.tmpdir(), `signerd-pg-template-${process.getuid?.() ?? 0}-${version}`);
  if (fs.existsSync(path.join(template, 'PG_VERSION'))) return template;
  const parent = fs.mkdtempSync(`${template}.making-`);
  if (identity) fs.chownSync(parent, identity.uid, identity.gid);
  const made = path.join(parent, 'data');
  execFileSync(path.join(bin, 'initdb'), ['-D', made, ...INITDB_ARGS], { stdio: ['ignore', 'ignore', 'pipe'], ...(identity ?? {}) });
  try {
    fs.renameSync(made, template);
  } catch (err) {
    // Another test file made it first: theirs is as good as ours.
    if (!['ENOTEMPTY', 'EEXIST'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
  }
  fs.rmSync(parent, { recursive: true, force: true });
  return template;
}

/** One statement as the superuser over the Unix socket in `socketDir`. */
async function query(socketDir: string, port: number, database: string, text: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ host: socketDir, port, user: USER, database, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await client.query(text);
  } finally {
    await client.end();
  }
}

/** TLS (server files copied into the data directory, owned by the server, 0600) and pg_hba rules for TCP. */
function secureTcp(dataDir: string, opts: StartOptions, identity: { uid: number; gid: number } | null): void {
  if (opts.clientCert && !opts.tls) throw new Error('startPostgres: clientCert needs tls');
  const method = opts.password ? 'scram-sha-256' : 'trust';
  const hba = ['local all all trust'];
  if (opts.tls) {
    const files = { 'server.pem': opts.tls.serverCert, 'server.key': opts.tls.serverKey, 'ca.pem': opts.tls.ca };
    for (const [name, from] of Object.entries(files)) {
      const to = path.join(dataDir, name);
      fs.copyFileSync(from, to);
      fs.chmodSync(to, 0o600);
      if (identity) fs.chownSync(to, identity.uid, identity.gid);
    }
    fs.appendFileSync(path.join(dataDir, 'postgresql.conf'), "ssl = on\nssl_cert_file = 'server.pem'\nssl_key_file = 'server.key'\nssl_ca_file = 'ca.pem'\n");
    hba.push(`hostssl all all 127.0.0.1/32 ${method}${opts.clientCert ? ' clientcert=verify-full' : ''}`);
  } else {
    hba.push(`host all all 127.0.0.1/32 ${method}`);
  }
  fs.writeFileSync(path.join(dataDir, 'pg_hba.conf'), `${hba.join('\n')}\n`);
}

function serverNode(
  bin: string,
  dataDir: string,
  port: number,
  args: string[],
  identity: { uid: number; gid: number } | null,
  socketDir: string,
): TestPostgresNode {
  let proc: ChildProcess | undefined;
  return {
    port,
    dataDir,
    async start() {
      proc = spawn(path.join(bin, 'postgres'), ['-D', dataDir, '-p', String(port), ...args], { stdio: 'ignore', ...(identity ?? {}) });
      await waitForConnect(socketDir, port, 15_000);
    },
    async stop() {
      const p = proc;
      proc = undefined;
      if (!p || p.exitCode !== null || p.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        p.once('exit', () => resolve());
        // SIGQUIT: immediate shutdown (children exit at once, WAL replayed at the next start).
        p.kill('SIGQUIT');
      });
    },
  };
}

async function waitForConnect(socketDir: string, port: number, msMax: number): Promise<void> {
  let last: unknown;
  const connects = async (): Promise<boolean> => {
    const client = new pg.Client({ host: socketDir, port, user: USER, database: 'postgres', connectionTimeoutMillis: 1_000 });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('SELECT 1');
      await client.end();
      return true;
    } catch (err) {
      last = err;
      await client.end().catch(() => {});
      return false;
    }
  };
  if (!(await until(connects, msMax, 100))) throw new Error(`postgres on ${port} did not accept connections: ${(last as Error)?.message}`);
}

/** tap options for a test that needs the PostgreSQL server (as needTools, for a tool that is not on PATH). */
export function needPostgres(): { skip?: string } {
  if (postgresBinDir() !== null) return {};
  const reason = 'missing PostgreSQL server (postgresql; .ci/run installs it)';
  if (process.env['CI'] === 'true') throw new Error(`CI: ${reason}`);
  return { skip: reason };
}
