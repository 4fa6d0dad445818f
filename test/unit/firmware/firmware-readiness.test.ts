// firmware's HSM key parts: one per distinct HSM-held key (none for keys in files), each proven by a
// probe signature, with at most HSM_KEY_PROBES_MAX probe signatures in flight however many keys probe
// at once; and its signerd_key_info series: one per distinct key, capped.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { HSM_KEY_PROBES_MAX } from '../../../daemons/firmware/firmware-limits.js';
import { hsmKeyParts, type ProbedKeys } from '../../../daemons/firmware/firmware-readiness.js';
import { keyInfoSeries } from '../../../daemons/firmware/firmware-operations.js';
import { openKeyRoot } from '../../../daemons/firmware/keys/key-root.js';
import { DaemonError } from '../../../lib/errors.js';
import { copyKeyRoot, MACHINE } from '../../integration/firmware/line-fixtures.js';

t.test('HSM keys: one part each, shared keys once, file keys none; probes bounded', async (t) => {
  const dir = copyKeyRoot(t.testdir({}));
  // Many machines, one key: a symlinked directory opens the same keys again.
  for (let i = 0; i < 20; i++) fs.symlinkSync(path.join(dir, MACHINE), path.join(dir, `machine-${i}`));
  const root = await openKeyRoot(dir, { callMsMax: 5_000 });
  t.teardown(() => root.close());
  let inFlight = 0;
  let most = 0;
  const signatures: string[] = [];
  // Every key of the root stands in for an HSM-held one, but the fitimagesign key stays a file.
  const keys: ProbedKeys = {
    keys: () =>
      root.keys().map((k) => ({
        ...k,
        backend: k.slot === 'fitimagesign' ? ('file' as const) : ('pkcs11' as const),
        signer: {
          ...k.signer,
          async signMessage(scheme, message) {
            most = Math.max(most, ++inFlight);
            signatures.push(k.signer.keyId);
            await new Promise((resolve) => setTimeout(resolve, 20));
            inFlight--;
            return k.signer.signMessage(scheme, message);
          },
        },
      })),
  };
  const hsmKeyIds = new Set(
    root
      .keys()
      .filter((k) => k.slot !== 'fitimagesign')
      .map((k) => k.signer.keyId),
  );
  const fitKeyId = root.keys().find((k) => k.slot === 'fitimagesign')!.signer.keyId;
  const parts = hsmKeyParts(keys);
  t.same(parts.map((p) => p.name).sort(), [...hsmKeyIds].map((id) => `key ${id}`).sort(), 'one part per distinct HSM key');
  t.notOk(hsmKeyIds.has(fitKeyId), 'the file key is not one of them');
  t.ok(parts.length > HSM_KEY_PROBES_MAX, `more keys (${parts.length}) than probe turns`);
  await Promise.all(parts.map((p) => p.probe()));
  t.equal(most, HSM_KEY_PROBES_MAX, `at most ${HSM_KEY_PROBES_MAX} probe signatures at once`);
  t.equal(signatures.length, parts.length, 'one signature per key per probe, however many machines share it');
});

t.test('a probe whose signature fails fails its part with the backend code', async (t) => {
  const dir = copyKeyRoot(t.testdir({}));
  const root = await openKeyRoot(dir, { callMsMax: 5_000 });
  t.teardown(() => root.close());
  const kmod = root.keys().find((k) => k.slot === 'kmodsign')!;
  const parts = hsmKeyParts({
    keys: () => [
      {
        ...kmod,
        backend: 'pkcs11',
        signer: { ...kmod.signer, signMessage: () => Promise.reject(new DaemonError('BACKEND_UNAVAILABLE', 'token gone')) },
      },
    ],
  });
  t.equal(parts.length, 1);
  await t.rejects(parts[0]!.probe(), { code: 'BACKEND_UNAVAILABLE' });
});

t.test('key info: one series per distinct key, machines sharing keys add none, at most max', async (t) => {
  const dir = copyKeyRoot(t.testdir({}));
  for (let i = 0; i < 20; i++) fs.symlinkSync(path.join(dir, MACHINE), path.join(dir, `machine-${i}`));
  const root = await openKeyRoot(dir, { callMsMax: 5_000 });
  t.teardown(() => root.close());
  const distinct = new Set(root.keys().map((k) => k.signer.keyId));
  const all = keyInfoSeries(root, 1_000);
  t.equal(all.total, distinct.size, `${root.keys().length} keys, ${distinct.size} distinct`);
  t.same(all.series.map((s) => s.keyId).sort(), [...distinct].sort());
  t.ok(
    all.series.every((s) => s.backend === 'file' && /^(rsa-\d+|ec-\w+)$/.test(s.algorithm)),
    'id, description (as KEYINFO), backend',
  );
  const capped = keyInfoSeries(root, 2);
  t.same(capped, { series: all.series.slice(0, 2), total: distinct.size }, 'capped: the first keys in machine/distro order, and the count');
});
