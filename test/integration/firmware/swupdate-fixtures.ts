// swupdate test fixtures shared by the line and HSM suites: build a .swu as meta-swupdate does, and
// judge Debian's `swupdate -c` by its output.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tool, vector } from './line-fixtures.js';

/** Builds the .swu as meta-swupdate does (cpio -H crc, sw-description first, its .sig second). */
export function buildSwu(dir: string, name: string, description: Buffer, sig: Buffer): string {
  const work = path.join(dir, `${name}.d`);
  fs.mkdirSync(work);
  fs.writeFileSync(path.join(work, 'sw-description'), description);
  fs.writeFileSync(path.join(work, 'sw-description.sig'), sig);
  fs.copyFileSync(vector('swupdate/rootfs.img'), path.join(work, 'rootfs.img'));
  const swu = path.join(dir, `${name}.swu`);
  const r = tool('cpio', ['-o', '-H', 'crc', '--reproducible', '-O', swu], {
    cwd: work,
    input: Buffer.from('sw-description\nsw-description.sig\nrootfs.img\n'),
  });
  if (r.code !== 0) throw new Error(`cpio: ${r.out}`);
  return swu;
}

/**
 * `swupdate -c`, judged by its output (its exit status is unreliable on success), in a private TMPDIR.
 *
 * Debian's swupdate 2022.12 is not safe to run twice at once: its notifier binds one fixed abstract
 * socket, so a second run exits ("Error binding notifier socket") or crashes, and runs can talk to
 * each other's notifier. Test files run in parallel, so every run takes one machine-wide lock
 * (`flock`). Alone, it still fails about one run in fifty before any signature check: it cannot open
 * or parse a file it has just extracted, or it crashes. Such runs are made again; a run that reaches
 * the signature check and refuses it is final, so a retry can never turn a refusal into acceptance.
 */
export function swupdateCheck(swu: string, cert: string): { accepted: boolean; out: string } {
  let result = swupdateOnce(swu, cert);
  for (let attempt = 1; attempt < 5 && !result.accepted && !result.refused; attempt++) {
    result = swupdateOnce(swu, cert);
  }
  return { accepted: result.accepted, out: result.out };
}

const SWUPDATE_LOCK = path.join(os.tmpdir(), 'signerd-test-swupdate.lock');

function swupdateOnce(swu: string, cert: string): { accepted: boolean; refused: boolean; out: string } {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swu-'));
  let r;
  try {
    r = tool('flock', ['-w', '50', SWUPDATE_LOCK, 'swupdate', '-c', '-v', '-i', swu, '-k', cert, '-H', 'testboard:1.0'], { env: { TMPDIR: tmp } });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const refused = /Signature verification failed|verification failure/i.test(r.out);
  const accepted = !refused && /Verified OK/.test(r.out) && /SWUPDATE successful/.test(r.out) && !/SWUpdate \*failed\*/.test(r.out);
  const summary = r.out.split('\n').filter((l) => /Verified|SWUPDATE successful|ERROR|fail|cannot/i.test(l));
  return { accepted, refused, out: [`exit ${r.code ?? 'signal'}`, ...summary].join('\n') };
}
