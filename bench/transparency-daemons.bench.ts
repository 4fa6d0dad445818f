// Bench for the daemons with the transparency log on against the same daemon with it off, in one
// run: sign-ecdsa (16 keep-open connections) and tezos attestations (1 and 8 connections), the two
// daemons measured in alternating slices. The ratio column is log on / log off; hmac does not log.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateKeyFiles } from '../lib/admin/keygen-command.js';
import { generateNoteKey } from '../lib/transparency/note-key.js';
import { startDaemon, type RunningDaemon } from '../test/helpers/daemon.js';
import { loadAlternating, type BenchRow, type LoadOptions, type LoadResult } from './harness.js';
import { attestation, levelled, tezosLineArgs, TZ1 } from './tezos.bench.js';

const DURATION_MS = Number(process.env['BENCH_MS'] ?? 4_000);

/** The log-off and log-on rows of one measurement: on is shown against off (ratio, p99 added). */
function rowsOf(daemon: string, operation: string, off: LoadResult, on: LoadResult): BenchRow[] {
  const added = on.p99Ms - off.p99Ms;
  return [
    { daemon, operation: `${operation}, log off`, ...off, primitive: 'same daemon, log off', primitivePerSecond: off.perSecond },
    {
      daemon,
      operation: `${operation}, log on (p99 ${added >= 0 ? '+' : ''}${added.toFixed(2)} ms)`,
      ...on,
      primitive: 'same daemon, log off',
      primitivePerSecond: off.perSecond,
    },
  ];
}

export async function bench(): Promise<BenchRow[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signerd-bench-logged-'));
  const daemons: RunningDaemon[] = [];
  const start = async (args: string[]): Promise<RunningDaemon> => {
    const daemon = await startDaemon(args, { dropLogsAfterStart: true });
    daemons.push(daemon);
    return daemon;
  };
  try {
    const logKey = path.join(dir, 'log.key');
    fs.writeFileSync(logKey, `${generateNoteKey('bench.test/log').privateKeyText}\n`, { mode: 0o600 });
    const logged = (name: string): string[] => ['--transparency-log', path.join(dir, name), '--transparency-log-key', logKey];
    const rows: BenchRow[] = [];

    const keys = generateKeyFiles('ecdsa', path.join(dir, 'keys'), 'ecdsa');
    const signArgs = (state: string): string[] => [
      'sign-ecdsa',
      '--key',
      keys.privateKeyFile,
      '--port',
      '0',
      '--keep-open',
      '--state-dir',
      path.join(dir, state),
    ];
    const [signOff, signOn] = [await start(signArgs('state-off')), await start([...signArgs('state-on'), ...logged('log-sign')])];
    const signLoad = (port: number): LoadOptions => ({
      port,
      connections: 16,
      durationMs: DURATION_MS,
      line: (conn, seq) => `message ${conn} ${seq}`,
      check: (reply) => /b'[0-9a-f]+'\)$/.test(reply),
    });
    const [off, on] = await loadAlternating(signLoad(signOff.port), signLoad(signOn.port));
    rows.push(...rowsOf('sign-ecdsa', 'sign 30 B, 16 conn', off, on));

    const keysFile = path.join(dir, 'keys.json');
    fs.writeFileSync(keysFile, JSON.stringify({ keys: { [TZ1.pkh]: { secret_key: TZ1.sk } }, policy: { baking: 1 } }), { mode: 0o600 });
    const tezosArgs = (state: string): string[] => tezosLineArgs(keysFile, '--state-dir', path.join(dir, state));
    const tezos = [await start(tezosArgs('tezos-off')), await start([...tezosArgs('tezos-on'), ...logged('log-tezos')])];
    // Levels carry on across runs, per daemon and connection: every request is a new, higher slot.
    const payloads = tezos.map(() => levelled(attestation));
    const tezosLoad = (k: number, connections: number): LoadOptions => ({
      port: tezos[k]!.port,
      connections,
      durationMs: DURATION_MS,
      line: (conn) => `sign ${TZ1.pkh} ${payloads[k]!(conn).toString('hex')}`,
      check: (reply) => reply.startsWith('edsig'),
    });
    for (const connections of [1, 8]) {
      const [tezosOff, tezosOn] = await loadAlternating(tezosLoad(0, connections), tezosLoad(1, connections));
      rows.push(...rowsOf('tezos (sqlite)', `sign attestation, ${connections} conn`, tezosOff, tezosOn));
    }
    return rows;
  } finally {
    await Promise.all(daemons.map((d) => d.stop()));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
