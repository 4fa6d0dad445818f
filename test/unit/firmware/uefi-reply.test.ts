// /sign/tegra/uefi in-process: every reply file is created, never opened over a name already in the
// request's directory, so a link put there cannot have the reply written where it leads.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { DEFAULT_FIRMWARE_HTTP_LIMITS } from '../../../daemons/firmware/firmware-limits.js';
import { uefiRoute } from '../../../daemons/firmware/http/uefi-route.js';
import type { UploadContext } from '../../../lib/server/http-service.js';
import { MACHINE, openTestKeyRoot } from '../../integration/firmware/line-fixtures.js';

t.test('attach_signature: a link in place of artifact.signed is refused, its target untouched', async (t) => {
  const base = fs.realpathSync(t.testdir({ keys: {}, req: { 'upload-artifact': 'x'.repeat(5000) }, victim: 'not for the requester' }));
  const route = uefiRoute(await openTestKeyRoot(path.join(base, 'keys')), DEFAULT_FIRMWARE_HTTP_LIMITS);
  const dir = path.join(base, 'req');
  const form = {
    text: new Map([
      ['machine', MACHINE],
      ['signing_type', 'attach_signature'],
    ]),
    files: new Map([['artifact', { path: path.join(dir, 'upload-artifact'), size: 5000, filename: 'extlinux.conf' }]]),
  };
  const ctx: UploadContext = { conn: 1, req: 1, fields: {}, dir };

  const reply = await route.run(form, ctx);
  t.equal(reply.status, 200);
  const signed = fs.readFileSync(path.join(dir, 'artifact.signed'));
  t.ok(signed.subarray(0, 5000).equals(Buffer.from('x'.repeat(5000))), 'the file first');
  t.ok(signed.subarray(5000, 6144).equals(Buffer.alloc(1144)), 'zeros up to 6144');
  t.ok(signed.length > 6144 && signed[6144] === 0x30, 'then the CMS (a DER SEQUENCE)');
  t.equal(fs.statSync(path.join(dir, 'artifact.signed')).mode & 0o777, 0o600, 'mode 0600');

  fs.rmSync(path.join(dir, 'artifact.signed'));
  fs.symlinkSync(path.join(base, 'victim'), path.join(dir, 'artifact.signed'));
  await t.rejects(route.run(form, ctx), { code: 'EEXIST' });
  t.equal(fs.readFileSync(path.join(base, 'victim'), 'utf8'), 'not for the requester', 'the link target is unchanged');
});
