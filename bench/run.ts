// `npm run bench`: every daemon's throughput and p50/p99 beside its raw primitive, measured in
// this run, printed as a ratio. Targets live in the issues; nothing here asserts a number.
import { formatRows, type BenchRow } from './harness.js';
import { bench as signatureBench } from './signature.bench.js';
import { bench as pkcs11Bench } from './pkcs11.bench.js';
import { bench as tezosBench } from './tezos.bench.js';
import { bench as hmacBench } from './hmac.bench.js';
import { bench as firmwareBench } from './firmware.bench.js';
import { bench as transparencyLogBench } from './transparency-log.bench.js';
import { bench as channelsBench } from './channels.bench.js';
import { bench as transparencyDaemonsBench } from './transparency-daemons.bench.js';

/** Each entry benchmarks one daemon family; explicit, so nothing is loaded by side effect. */
const BENCHES: Array<[string, () => Promise<BenchRow[]>]> = [
  ['sign/verify rsa+ecdsa', signatureBench],
  ['pkcs11 hsm', pkcs11Bench],
  ['tezos', tezosBench],
  ['hmac', hmacBench],
  ['firmware digest flows', firmwareBench],
  ['transparency log', transparencyLogBench],
  ['client channels tls', channelsBench],
  ['transparency log on/off in the daemons', transparencyDaemonsBench],
];

const only = process.argv[2];
const rows: BenchRow[] = [];
for (const [name, run] of BENCHES) {
  if (only && !name.includes(only)) continue;
  process.stderr.write(`bench: ${name} ...\n`);
  rows.push(...(await run()));
}
process.stdout.write(formatRows(rows) + '\n');
