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
    keyId: '0123456789abcdef',
    algorithm: 'ecdsa-p384-sha384',
    createdMs: 1,
    expiresMs: null,
  });
  t.equal((await runSignerd(['import', '--state-dir', missing], record + '\n')).code, 0, 'import may start a store (restoring onto a new host)');
  t.equal((await runSignerd(['show', sig, '--state-dir', missing])).code, 0, 'which the lookups then use');
  // The test runs under a umask of 0022, as an operator's shell does: the store is private all the same.
  t.equal(fs.statSync(path.join(missing, 'validity.sqlite')).mode & 0o777, 0o600, 'the store an admin command made is 0600');
  const initDir = path.join(dir, 'init-state');
  t.equal((await runSignerd(['store', 'init', '--state-dir', initDir])).code, 0, 'store init');
  t.equal(fs.statSync(path.join(initDir, 'validity.sqlite')).mode & 0o777, 0o600, 'store init makes it 0600 too');
});

t.test('--ttl is bounded, so that every expiry is a date show, export and import carry', async (t) => {
  const huge = await runSignerd(['reinstate', sig, '--ttl', '99999999999999', '--state-dir', path.join(dir, 'no-such-state')]);
  t.equal(huge.code, 78);
  t.match(huge.stderr, /CONFIG_INVALID: --ttl: at most 3155760000/);
  const sign = await runSignerd(['sign-ecdsa', '--key', '/nonexistent', '--ttl', '99999999999999']);
  t.equal(sign.code, 78);
  t.match(sign.stderr, /CONFIG_INVALID: --ttl: at most 3155760000/);
  const bits = await runSignerd(['keygen', '--type', 'rsa', '--bits', '99999', '--out', path.join(dir, 'k')]);
  t.equal(bits.code, 78, 'keygen --bits past 16384: refused at once, not hours of a core');
  t.match(bits.stderr, /CONFIG_INVALID: --bits: at most 16384/);
});
