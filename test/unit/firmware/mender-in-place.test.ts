// /sign/mender artifact-uri=file:// in-process: the signed copy's owner and mode go through its
// descriptor, so a link renamed over the temporary file while it is written never takes them.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { DEFAULT_FIRMWARE_HTTP_LIMITS } from '../../../daemons/firmware/firmware-limits.js';
import { signMenderArtifact } from '../../../daemons/firmware/formats/mender-artifact.js';
import { menderRoute } from '../../../daemons/firmware/http/mender-route.js';
import { TAR_END, tarHeader, tarPadding } from '../../../daemons/firmware/tar/tar-writer.js';
import type { UploadContext } from '../../../lib/server/http-service.js';
import { DISTRO, openTestKeyRoot } from '../../integration/firmware/line-fixtures.js';

/** A Mender v3 artifact whose data member is `dataBytes` long: 64 KiB copies, each an event-loop turn, while it is written. */
function artifact(dataBytes: number): Buffer {
  const members: Array<[string, Buffer]> = [
    ['header.tar.gz', crypto.randomBytes(300)],
    ['data/0000.tar.gz', Buffer.alloc(dataBytes, 0x5a)],
  ];
  const version = Buffer.from('{"format":"mender","version":3}');
  const sha = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex');
  const manifest = Buffer.from([['version', version], ...members].map(([n, b]) => `${sha(b as Buffer)}  ${n as string}\n`).join(''));
  const entry = (name: string, body: Buffer): Buffer[] => [
    tarHeader({ name, type: 'file', mode: 0o644, uid: 0, gid: 0, uname: '', gname: '', mtime: 0, linkname: '', size: body.length }),
    body,
    tarPadding(body.length),
  ];
  return Buffer.concat([...entry('version', version), ...entry('manifest', manifest), ...members.flatMap(([n, b]) => entry(n, b)), TAR_END]);
}

t.test('artifact-uri: owner and mode are set on the signed copy, not on what its name leads to', async (t) => {
  const base = fs.realpathSync(t.testdir({ keys: {}, root: { deploy: {} }, req: {} }));
  const keyRoot = await openTestKeyRoot(path.join(base, 'keys'));
  const root = path.join(base, 'root');
  const deploy = path.join(root, 'deploy');
  const target = path.join(deploy, 'image.mender');
  fs.writeFileSync(target, artifact(8 * 1024 * 1024));
  fs.chmodSync(target, 0o640);
  // As root, the artifact is another user's (nobody), as a build's would be.
  const asRoot = process.getuid?.() === 0;
  if (asRoot) fs.chownSync(target, 65534, 65534);
  const victim = path.join(base, 'victim');
  fs.writeFileSync(victim, 'not for the build user');
  fs.chmodSync(victim, 0o600);
  const victimBefore = fs.statSync(victim);

  const route = menderRoute(keyRoot, DEFAULT_FIRMWARE_HTTP_LIMITS, root);
  const form = {
    text: new Map([
      ['distro', DISTRO],
      ['artifact-uri', `file://${target}`],
    ]),
    files: new Map(),
  };
  const ctx: UploadContext = { conn: 1, req: 1, fields: {}, dir: path.join(base, 'req') };

  await t.test('no race: the signed artifact keeps its owner and mode', async (t) => {
    const reply = await route.run(form, ctx);
    t.equal(reply.status, 200);
    const st = fs.lstatSync(target);
    t.ok(st.isFile(), 'a file where the artifact was');
    t.equal(st.mode & 0o7777, 0o640, 'its mode');
    if (asRoot) t.same([st.uid, st.gid], [65534, 65534], 'its owner');
    t.same(fs.readdirSync(deploy), ['image.mender'], 'no temporary file left');
  });

  await t.test('a link renamed over the temporary file while it is written', async (t) => {
    fs.writeFileSync(target, artifact(8 * 1024 * 1024));
    fs.chmodSync(target, 0o640);
    if (asRoot) fs.chownSync(target, 65534, 65534);
    // The build user's move: as soon as `.image.mender.signerd-*` appears, a link to the victim is
    // renamed over it. It is checked at every turn of the event loop, and the copy takes 128+ turns.
    let swapped = false;
    let done = false;
    const swapper = (async () => {
      while (!done && !swapped) {
        const temp = fs.readdirSync(deploy).find((n) => n.includes('.signerd-'));
        if (temp !== undefined) {
          fs.symlinkSync(victim, path.join(deploy, '.link'));
          fs.renameSync(path.join(deploy, '.link'), path.join(deploy, temp));
          swapped = true;
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    await route.run(form, ctx).finally(() => (done = true));
    await swapper;
    t.ok(swapped, 'the link was swapped in while the signed copy was written');
    const after = fs.statSync(victim);
    t.equal(after.mode & 0o7777, victimBefore.mode & 0o7777, "the victim's mode is unchanged");
    t.same([after.uid, after.gid], [victimBefore.uid, victimBefore.gid], 'and its owner');
    t.equal(fs.readFileSync(victim, 'utf8'), 'not for the build user');
  });
});

t.test('the input is opened without following a link (one swapped in after the check is refused)', async (t) => {
  const base = fs.realpathSync(t.testdir({ keys: {} }));
  const keyRoot = await openTestKeyRoot(path.join(base, 'keys'));
  fs.writeFileSync(path.join(base, 'real.mender'), artifact(1000));
  fs.symlinkSync(path.join(base, 'real.mender'), path.join(base, 'link.mender'));
  const limits = { entriesMax: 100, metaBytesMax: 1 << 20, namesBytesMax: 1 << 20, manifestBytesMax: 1 << 20 };
  await t.rejects(signMenderArtifact(path.join(base, 'link.mender'), path.join(base, 'out'), keyRoot.signer(DISTRO, 'mender'), limits, 'private'), {
    code: 'ELOOP',
  });
  t.notOk(fs.existsSync(path.join(base, 'out')), 'nothing written');
});
