// A process that appends to a transparency log, printing one JSON line per acknowledged entry:
// the stand-in for a daemon in the multi-process and SIGKILL tests (until the daemons log).
// Usage: node log-appender-process.js <dir> <key file> <tag> <count (0: until killed)> <concurrency>
import crypto from 'node:crypto';
import { loadCheckpointSignerFile } from '../../lib/transparency/checkpoint-signer.js';
import { openTransparencyLog } from '../../lib/transparency/transparency-log.js';

const [dir, keyFile, tag, countText, concurrencyText] = process.argv.slice(2) as [string, string, string, string, string];
const count = Number(countText);
const log = await openTransparencyLog({ dir, signers: [loadCheckpointSignerFile(keyFile)], checkpointIntervalMs: 50 });
process.stdout.write(`${JSON.stringify({ open: true })}\n`);

/** The signature of a stand-in sign event: unique per tag and sequence number. */
export function fakeSignature(label: string, i: number): Buffer {
  return crypto.createHash('sha256').update(`${label}/${i}`).digest();
}

let next = 0;
await Promise.all(
  Array.from({ length: Number(concurrencyText) }, async () => {
    while (count === 0 || next < count) {
      const i = next++;
      const signature = fakeSignature(tag, i);
      const index = await log.append({ kind: 'sign', source: tag, keyId: 'test-key', algorithm: 'test', messageSha256: signature, signature });
      process.stdout.write(`${JSON.stringify({ i, index, signature: signature.toString('hex') })}\n`);
    }
  }),
);
await log.close();
process.stdout.write(`${JSON.stringify({ done: true })}\n`);
