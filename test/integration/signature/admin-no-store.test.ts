// `signerd show|revoke|reinstate|export` pointed at a state directory that holds no store (a wrong
// --state-dir): refused with exit 78 naming the path, and nothing is created (issue #10, item 7).
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { runSignerd } from '../../helpers/daemon.js';

const dir = t.testdir();
const sig = 'ab'.repeat(96);

t.test('lookups refuse a state directory without a store and create nothing', async (t) => {
  const missing = path.join(dir, 'no-such-state');
  const empty = path.join(dir, 'empty-state');
  fs.mkdirSync(empty);
  // Two commands against a directory that does not exist, two against one that exists but is empty.
  for (const [command, stateDir] of [
    ['show', missing],
    ['revoke', missing],
    ['reinstate', empty],
    ['export', empty],
  ] as const) {
    const run = await runSignerd([command, sig, '--state-dir', stateDir]);
    t.equal(run.code, 78, `${command}: exit 78 (a configuration mistake; a retry would not help)`);
    t.match(run.stderr, `CONFIG_INVALID: no validity store at ${path.join(stateDir, 'validity.sqlite')}`, `${command}: names the path`);
  }
  t.notOk(fs.existsSync(missing), 'no directory was created');
  t.same(fs.readdirSync(empty), [], 'no file was created');

  const record = JSON.stringify({
    signature: sig,
    message: Buffer.from('restored').toString('base64'),
    keyId: 'k',
    algorithm: 'ecdsa-p384-sha384',
    createdMs: 1,
    expiresMs: null,
  });
  t.equal((await runSignerd(['import', '--state-dir', missing], record + '\n')).code, 0, 'import may start a store (restoring onto a new host)');
  t.equal((await runSignerd(['show', sig, '--state-dir', missing])).code, 0, 'which the lookups then use');
});
