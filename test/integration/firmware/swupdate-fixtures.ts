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
  const r = tool('cpio', ['-o', '-H', 'crc', '--reproducible', '-O', swu], { cwd: work, input: Buffer.from('sw-description\nsw-description.sig\nrootfs.img\n') });
  if (r.code !== 0) throw new Error(`cpio: ${r.out}`);
  return swu;
}

/** `swupdate -c`, judged by its output (its exit status is unreliable on success), in a private TMPDIR. */
export function swupdateCheck(swu: string, cert: string): { accepted: boolean; out: string } {
  // Debian's swupdate 2022.12 sometimes fails to open a file it has just extracted when the machine is
  // loaded ("… cannot be opened"), before any signature check. Only that case is run again; a refused
  // signature is never retried.
  let result = swupdateOnce(swu, cert);
  for (let attempt = 1; attempt < 3 && !result.accepted && /cannot be opened/.test(result.out) && !/verification failed/i.test(result.out); attempt++) {
    result = swupdateOnce(swu, cert);
  }
  return result;
}

function swupdateOnce(swu: string, cert: string): { accepted: boolean; out: string } {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swu-'));
  let r;
  try {
    r = tool('swupdate', ['-c', '-v', '-i', swu, '-k', cert, '-H', 'testboard:1.0'], { env: { TMPDIR: tmp } });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const accepted = /Verified OK/.test(r.out) && /SWUPDATE successful/.test(r.out) && !/Signature verification failed|SWUpdate \*failed\*/.test(r.out);
  return { accepted, out: r.out.split('\n').filter((l) => /Verified|SWUPDATE successful|ERROR|fail|cannot/i.test(l)).join('\n') };
}
