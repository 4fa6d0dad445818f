// A real etcd cluster for tests: 1 or 3 members on free loopback ports under a temp dir, with short
// Raft timers (elections in about half a second) so fault tests stay fast; members are killed and
// restarted on demand, and the current leader can be asked for. On demand, clients must use TLS
// (and a client certificate), and authentication is enabled with etcdctl as an operator would.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports.js';
import type { TestCertificates } from './test-ca.js';
import { waitFor } from './polling.js';

interface EtcdMember {
  readonly name: string;
  readonly endpoint: string;
  kill(signal?: NodeJS.Signals): Promise<void>;
  start(): Promise<void>;
}

export interface TestEtcd {
  readonly members: EtcdMember[];
  /** host:port of every member (https://host:port with `tls`), for --etcd-endpoints. */
  readonly endpoints: string[];
  /** Index of the member that is leader now (polls until one is; not with `auth`). */
  leader(): Promise<number>;
  /** Runs etcdctl against every member (with the helper's client certificate under `tls`); `input` on stdin. */
  etcdctl(args: string[], input?: string): void;
  stop(): Promise<void>;
}

interface StartOptions {
  /** Clients must use TLS: the members present `tls.serverCert` (CN/SAN 127.0.0.1). */
  tls?: TestCertificates;
  /** With `tls`: clients must present a certificate signed by `tls.ca` (etcd's --client-cert-auth). */
  clientCertAuth?: boolean;
  /** Authentication enabled (root user added first), and `user` may read and write keys under `prefix`. */
  auth?: { user: string; password: string; prefix: string };
}

/**
 * Members keep their data in memory (/dev/shm) where there is one. With elections in half a second, a
 * WAL fsync stalled by a loaded disk (the whole suite runs beside it) can cost a member its
 * leadership mid-test; what is tested is signerd against a quorum, not etcd's disk. A killed member
 * still finds its data when restarted: tmpfs outlives the process.
 */
function dataRoot(): string {
  try {
    fs.accessSync('/dev/shm', fs.constants.W_OK);
    return '/dev/shm';
  } catch {
    return os.tmpdir();
  }
}

export async function startEtcd(size = 3, opts: StartOptions = {}): Promise<TestEtcd> {
  const dir = fs.mkdtempSync(path.join(dataRoot(), 'signerd-etcd-'));
  const ports = await Promise.all(Array.from({ length: size * 2 }, () => freePort()));
  const names = Array.from({ length: size }, (_, i) => `m${i}`);
  const peer = (i: number): string => `http://127.0.0.1:${ports[size + i]}`;
  const cluster = names.map((n, i) => `${n}=${peer(i)}`).join(',');
  const tls = opts.tls;
  const scheme = tls ? 'https' : 'http';
  const tlsArgs = tls
    ? ['--cert-file', tls.serverCert, '--key-file', tls.serverKey, ...(opts.clientCertAuth ? ['--trusted-ca-file', tls.ca, '--client-cert-auth'] : [])]
    : [];
  const members: EtcdMember[] = names.map((name, i) => {
    let proc: ChildProcess | undefined;
    const endpoint = `${tls ? 'https://' : ''}127.0.0.1:${ports[i]}`;
    const args = [
      ...['--name', name, '--data-dir', path.join(dir, name)],
      ...['--listen-client-urls', `${scheme}://127.0.0.1:${ports[i]}`, '--advertise-client-urls', `${scheme}://127.0.0.1:${ports[i]}`],
      ...tlsArgs,
      ...['--listen-peer-urls', peer(i), '--initial-advertise-peer-urls', peer(i)],
      ...['--initial-cluster', cluster, '--initial-cluster-state', 'new', '--initial-cluster-token', path.basename(dir)],
      ...['--heartbeat-interval', '50', '--election-timeout', '500', '--logger', 'zap', '--log-level', 'error'],
    ];
    return {
      name,
      endpoint,
      async start() {
        proc = spawn('etcd', args, { stdio: 'ignore' });
      },
      async kill(signal = 'SIGKILL') {
        const p = proc;
        if (!p || p.exitCode !== null || p.signalCode !== null) return;
        if (signal !== 'SIGKILL' && signal !== 'SIGTERM') {
          p.kill(signal);
          return;
        }
        proc = undefined;
        await new Promise<void>((resolve) => {
          p.once('exit', () => resolve());
          p.kill(signal);
        });
      },
    };
  });
  const client: ClientTls = tls ? { ca: fs.readFileSync(tls.ca), cert: fs.readFileSync(tls.clientNoCnCert), key: fs.readFileSync(tls.clientNoCnKey) } : null;
  const post = (endpoint: string, urlPath: string, body: unknown): Promise<unknown> => postTo(endpoint, urlPath, body, client);
  for (const m of members) await m.start();
  await waitFor(async () => (await Promise.all(members.map((m) => rangeOk(post, m.endpoint)))).every(Boolean), 15_000, 'the etcd cluster to form', 100);
  const allEndpoints = members.map((m) => (tls ? m.endpoint : `http://${m.endpoint}`)).join(',');
  const etcdctl = (args: string[], input?: string): void => runEtcdctl(allEndpoints, tls, args, input);
  if (opts.auth) enableAuth(etcdctl, opts.auth);

  async function leader(): Promise<number> {
    let found = -1;
    await waitFor(
      async () => {
        for (let i = 0; i < members.length; i++) {
          const status = (await post(members[i]!.endpoint, '/v3/maintenance/status', {}).catch(() => null)) as {
            leader?: string;
            header?: { member_id?: string };
          } | null;
          if (status?.leader && status.leader === status.header?.member_id) found = i;
        }
        return found >= 0;
      },
      10_000,
      'an etcd leader',
      100,
    );
    return found;
  }

  return {
    members,
    endpoints: members.map((m) => m.endpoint),
    leader,
    etcdctl,
    async stop() {
      for (const m of members) await m.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The CA and client certificate the helper itself uses with `tls`. */
type ClientTls = { ca: Buffer; cert: Buffer; key: Buffer } | null;

function runEtcdctl(endpoints: string, tls: TestCertificates | undefined, args: string[], input?: string): void {
  const tlsFlags = tls ? [`--cacert=${tls.ca}`, `--cert=${tls.clientNoCnCert}`, `--key=${tls.clientNoCnKey}`] : [];
  execFileSync('etcdctl', [`--endpoints=${endpoints}`, ...tlsFlags, '--command-timeout=5s', ...args], {
    input: input ?? '',
    stdio: ['pipe', 'ignore', 'pipe'],
  });
}

/** etcdctl, as an operator enables authentication: root (password root-<password>) first, then a role limited to the prefix. */
function enableAuth(etcdctl: (args: string[]) => void, auth: { user: string; password: string; prefix: string }): void {
  const run = (...args: string[]): void => etcdctl(args);
  const rootPassword = `root-${auth.password}`;
  run('user', 'add', `root:${rootPassword}`, '--interactive=false');
  run('role', 'add', 'signerd-rw');
  run('role', 'grant-permission', 'signerd-rw', '--prefix=true', 'readwrite', auth.prefix);
  run('user', 'add', `${auth.user}:${auth.password}`, '--interactive=false');
  run('user', 'grant-role', auth.user, 'signerd-rw');
  run('auth', 'enable');
}

function postTo(endpoint: string, urlPath: string, body: unknown, tls: ClientTls): Promise<unknown> {
  const url = new URL(endpoint.includes('://') ? endpoint : `http://${endpoint}`);
  return new Promise((resolve, reject) => {
    const options = { host: url.hostname, port: url.port, path: urlPath, method: 'POST', timeout: 1_000, ...(tls ?? {}) };
    const req = (tls ? https : http).request(options, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(text)) : reject(new Error(text))));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

function rangeOk(post: (endpoint: string, urlPath: string, body: unknown) => Promise<unknown>, endpoint: string): Promise<boolean> {
  return post(endpoint, '/v3/kv/range', { key: Buffer.from('probe').toString('base64') }).then(
    () => true,
    () => false,
  );
}
