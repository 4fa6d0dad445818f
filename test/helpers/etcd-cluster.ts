// A real etcd cluster for tests: 1 or 3 members on free loopback ports under a temp dir, with short
// Raft timers (elections in about half a second) so fault tests stay fast; members are killed and
// restarted on demand, and the current leader can be asked for.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports.js';

interface EtcdMember {
  readonly name: string;
  readonly endpoint: string;
  kill(signal?: NodeJS.Signals): Promise<void>;
  start(): Promise<void>;
}

export interface TestEtcd {
  readonly members: EtcdMember[];
  /** host:port of every member, for --etcd-endpoints. */
  readonly endpoints: string[];
  /** Index of the member that is leader now (polls until one is). */
  leader(): Promise<number>;
  stop(): Promise<void>;
}

export async function startEtcd(size = 3): Promise<TestEtcd> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signerd-etcd-'));
  const ports = await Promise.all(Array.from({ length: size * 2 }, () => freePort()));
  const names = Array.from({ length: size }, (_, i) => `m${i}`);
  const peer = (i: number): string => `http://127.0.0.1:${ports[size + i]}`;
  const cluster = names.map((n, i) => `${n}=${peer(i)}`).join(',');
  const members: EtcdMember[] = names.map((name, i) => {
    let proc: ChildProcess | undefined;
    const endpoint = `127.0.0.1:${ports[i]}`;
    const args = [
      ...['--name', name, '--data-dir', path.join(dir, name)],
      ...['--listen-client-urls', `http://${endpoint}`, '--advertise-client-urls', `http://${endpoint}`],
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
  for (const m of members) await m.start();
  await waitFor(async () => (await Promise.all(members.map((m) => rangeOk(m.endpoint)))).every(Boolean), 15_000, 'etcd cluster did not form');

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
      'no etcd leader',
    );
    return found;
  }

  return {
    members,
    endpoints: members.map((m) => m.endpoint),
    leader,
    async stop() {
      for (const m of members) await m.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function post(endpoint: string, urlPath: string, body: unknown): Promise<unknown> {
  const [host, port] = endpoint.split(':');
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, path: urlPath, method: 'POST', timeout: 1_000 }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(text)) : reject(new Error(text))));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

function rangeOk(endpoint: string): Promise<boolean> {
  return post(endpoint, '/v3/kv/range', { key: Buffer.from('probe').toString('base64') }).then(
    () => true,
    () => false,
  );
}

async function waitFor(check: () => Promise<boolean>, msMax: number, what: string): Promise<void> {
  const deadline = Date.now() + msMax;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(what);
}
