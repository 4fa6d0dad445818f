// The history checker of `signerd tezos watermark audit` on hand-made logs: a clean history passes;
// two signings of one slot, or two different signatures returned for it, are violations.
import t from 'tap';
import { watermarkAudit } from '../../../daemons/tezos/admin/watermark-audit.js';

const request = (fields: Record<string, unknown>): string =>
  JSON.stringify({ level: 'info', msg: 'request', chainId: 'NetXdQprcVkpaWU', pkh: 'tz1x', kind: 'attestation', blockLevel: 7, round: 0, ...fields });

t.test('a clean history: one signing, replays of the same signature, refusals', async (t) => {
  const audit = watermarkAudit();
  audit.add(request({ watermark: 'advanced', signed: 'aa', outcome: 'ok' }));
  audit.add(request({ watermark: 'replay', signed: 'aa', outcome: 'ok' }));
  audit.add(request({ outcome: 'WATERMARK_REJECTED' }));
  audit.add(request({ blockLevel: 8, watermark: 'advanced', signed: 'bb', outcome: 'ok' }));
  audit.add(JSON.stringify({ msg: 'listening', port: 1 }));
  audit.add('not json');
  t.match(audit.result(), { lines: 6, marks: 2, signed: 3, refused: 1, skipped: 1, unreadable: 1, violations: [] });
});

t.test('two processes both advanced one slot: a violation', async (t) => {
  const audit = watermarkAudit();
  audit.add(request({ watermark: 'advanced', signed: 'aa', outcome: 'ok' }));
  audit.add(request({ watermark: 'advanced', signed: 'cc', outcome: 'client-gone' }));
  const { violations } = audit.result();
  t.equal(violations.length, 2, 'signed twice, and two signatures');
  t.match(violations[0], /NetXdQprcVkpaWU tz1x attestation 7\/0: 2 requests advanced/);
});

t.test('logs written before blockLevel, which gave the block level as the last `level` key', async (t) => {
  const audit = watermarkAudit();
  const old = (signed: string): string =>
    `{"level":"info","msg":"request","chainId":"NetXdQprcVkpaWU","pkh":"tz1x","kind":"block","level":42,"round":0,"watermark":"advanced","signed":"${signed}","outcome":"ok"}`;
  audit.add(old('aa'));
  audit.add(old('cc'));
  t.match(audit.result().violations[0], /NetXdQprcVkpaWU tz1x block 42\/0: 2 requests advanced/);
});
