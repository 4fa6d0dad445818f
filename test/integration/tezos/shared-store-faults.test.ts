// Three tezos "hosts" (processes on distinct ports) on one shared store, with a burst of concurrent
// requests per level (several payloads, several copies each) while faults are injected: on etcd the
// leader is SIGKILLed and a daemon is SIGSTOPped/SIGCONTed and SIGKILLed; on PostgreSQL the primary is
// restarted. The clients see at most one signature per level, every refusal is an error, and
// `signerd tezos watermark audit` over the daemons' logs finds at most one signature per slot.
import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { runSignerd } from '../../helpers/daemon.js';
import { startEtcd } from '../../helpers/etcd-cluster.js';
import { needPostgres, startPostgres } from '../../helpers/postgres-server.js';
import { needTools } from '../../helpers/tools.js';
import { sleep } from '../../helpers/polling.js';
import { httpSign, seedKeys, startTezos, tempDir, TZ1, writeKeys, type TezosDaemon } from './fixtures.js';
import { consensus } from './payloads.js';

const LEVELS = 10;
const VARIANTS = 4;
const COPIES = 30;

type Fault = (level: number, daemons: TezosDaemon[]) => Promise<void>;

/** One burst per level over every running daemon; `fault` runs at the same time as the burst. */
async function bursts(t: Test, daemons: TezosDaemon[], fault: Fault): Promise<{ signedLevels: number }> {
  let signedLevels = 0;
  for (let level = 1; level <= LEVELS; level++) {
    const jobs: Array<Promise<{ variant: number; status: number; signature: string | null }>> = [];
    let n = 0;
    for (let variant = 0; variant < VARIANTS; variant++) {
      const payload = consensus('attestation', { level, round: 0, variant: `${variant}` });
      for (let copy = 0; copy < COPIES; copy++) {
        const d = daemons[n++ % daemons.length]!;
        jobs.push(
          httpSign(d.httpPort, TZ1.pkh, payload).then(
            (r) => ({ variant, status: r.status, signature: r.signature }),
            () => ({ variant, status: 0, signature: null }), // the daemon was killed under the request
          ),
        );
      }
    }
    const [results] = await Promise.all([Promise.all(jobs), fault(level, daemons)]);
    const signed = results.filter((r) => r.status === 200);
    const distinct = new Set(signed.map((r) => r.signature));
    const winners = new Set(signed.map((r) => r.variant));
    const statuses = new Set(results.map((r) => r.status));
    if (distinct.size > 1 || winners.size > 1 || signed.some((r) => r.signature === null) || [...statuses].some((s) => ![0, 200, 409, 503].includes(s))) {
      t.fail(`level ${level}: ${distinct.size} signatures, ${winners.size} winning payloads, statuses ${JSON.stringify([...statuses])}`);
      return { signedLevels };
    }
    if (distinct.size === 1) signedLevels++;
    t.comment(`level ${level}: ${JSON.stringify(results.reduce<Record<number, number>>((m, r) => ({ ...m, [r.status]: (m[r.status] ?? 0) + 1 }), {}))}`);
  }
  t.pass(`${LEVELS} levels, ${VARIANTS * COPIES} concurrent requests each over ${daemons.length} processes: never two signatures for one level`);
  return { signedLevels };
}

/** Writes every daemon's log lines to files and runs the audit command over them. */
/** The admin command reads the shared store the daemons wrote. */
async function showMarks(t: Test, storeArgs: string[]): Promise<void> {
  const shown = await runSignerd(['tezos', 'watermark', 'show', '--json', ...storeArgs]);
  t.equal(shown.code, 0, 'tezos watermark show on the shared store');
  t.match(JSON.parse(shown.stdout.trim().split('\n')[0]!), { pkh: TZ1.pkh, kind: 'attestation', level: LEVELS });
}

async function audit(t: Test, dir: string, daemons: TezosDaemon[]): Promise<void> {
  const files = daemons.map((d, i) => {
    const file = path.join(dir, `host-${i}.log`);
    fs.writeFileSync(file, d.daemon.logs.map((l) => JSON.stringify(l)).join('\n') + '\n');
    return file;
  });
  const result = await runSignerd(['tezos', 'watermark', 'audit', '--json', ...files]);
  const report = JSON.parse(result.stdout) as { violations: string[]; signed: number; marks: number };
  t.equal(result.code, 0, "the audit over all processes' logs passes");
  t.same(report.violations, []);
  t.ok(report.signed > 0 && report.marks >= LEVELS, `audited ${report.signed} signed requests over ${report.marks} marks`);
}

t.test('three hosts on a 3-member etcd: leader SIGKILL, daemon SIGSTOP and SIGKILL', needTools('etcd'), async (t) => {
  const etcd = await startEtcd(3);
  t.teardown(() => etcd.stop());
  const dir = tempDir(t);
  const keysFile = writeKeys(dir, seedKeys([TZ1]));
  const args = (host: string): string[] => ['--store', 'etcd', '--etcd-endpoints', etcd.endpoints.join(','), '--state-dir', path.join(dir, host)];
  const daemons = await Promise.all(['a', 'b', 'c'].map((h) => startTezos(t, keysFile, args(h))));
  const all = [...daemons];
  let killedMember = -1;
  const { signedLevels } = await bursts(t, daemons, async (level, running) => {
    if (level === 3) {
      killedMember = await etcd.leader();
      await etcd.members[killedMember]!.kill('SIGKILL');
    }
    if (level === 5) {
      await etcd.members[killedMember]!.start();
      running[1]!.daemon.proc.kill('SIGSTOP');
      await sleep(300);
      running[1]!.daemon.proc.kill('SIGCONT');
    }
    if (level === 7) {
      await sleep(20);
      running[2]!.daemon.proc.kill('SIGKILL');
    }
    if (level === 8) {
      // The killed host is replaced (a restart: its floor is gone, only etcd knows the marks).
      const replacement = await startTezos(t, keysFile, args('c2'));
      running[2] = replacement;
      all.push(replacement);
    }
  });
  t.ok(signedLevels >= LEVELS - 3, `${signedLevels} of ${LEVELS} levels got their signature through the faults`);
  await audit(t, dir, all);
  await showMarks(t, ['--store', 'etcd', '--etcd-endpoints', etcd.endpoints.join(',')]);
});

t.test('three hosts on PostgreSQL: the primary restarted mid-burst', needPostgres(), async (t) => {
  const server = await startPostgres();
  t.teardown(() => server.stop());
  const dir = tempDir(t);
  const keysFile = writeKeys(dir, seedKeys([TZ1]));
  const args = (host: string): string[] => [
    '--store',
    'postgres',
    '--postgres-url',
    server.url(),
    '--postgres-sslmode',
    'disable',
    '--state-dir',
    path.join(dir, host),
  ];
  const daemons = await Promise.all(['a', 'b', 'c'].map((h) => startTezos(t, keysFile, args(h))));
  const { signedLevels } = await bursts(t, daemons, async (level) => {
    if (level === 4) {
      await sleep(10);
      await server.primary.stop();
      await sleep(200);
      await server.primary.start();
    }
  });
  t.ok(signedLevels >= LEVELS - 2, `${signedLevels} of ${LEVELS} levels got their signature through the restart`);
  await audit(t, dir, daemons);
  await showMarks(t, ['--store', 'postgres', '--postgres-url', server.url(), '--postgres-sslmode', 'disable']);
});
