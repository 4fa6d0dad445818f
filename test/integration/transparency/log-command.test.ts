// `signerd log …` as an operator and an auditor run it: exit statuses (0 yes, 1 no, 78 bad
// configuration), key file rules, Tezos base58 signatures, a daemon's --config file, publishing
// what a crash left unpublished, and the audit's fork detection with --previous.
import t from 'tap';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { runSignerd } from '../../helpers/daemon.js';
import { base58CheckEncode } from '../../../lib/protocol/base58.js';
import { openSequencer } from '../../../lib/transparency/sequencer-db.js';
import { encodeLogEntry } from '../../../lib/transparency/log-entry.js';
import { parseInclusionProof } from '../../../lib/transparency/proof-text.js';
import { verifyInclusion } from '../../../lib/transparency/merkle-proof-check.js';
import { leafHash } from '../../../lib/transparency/merkle-hash.js';
import { appendRange, makeKey, openLog, signatureOf } from './fixtures.js';

const EDSIG_PREFIX = Buffer.from([0x09, 0xf5, 0xcd, 0x86, 0x12]);

function edsig(signature: Buffer): string {
  return base58CheckEncode(Buffer.concat([EDSIG_PREFIX, signature]));
}

t.test('signerd log', async (t) => {
  const dir = t.testdir();
  const logDir = path.join(dir, 'log');
  const { keyFile, vkey } = await makeKey(dir);
  const other = await makeKey(dir, 'other.test/log');
  const tezosSignature = crypto.createHash('sha512').update('tezos').digest();
  const log = await openLog(logDir, keyFile);
  await appendRange(log, 0, 20);
  await log.append({
    kind: 'sign',
    source: 'tezos',
    keyId: 'tz1VSUr8wwNhLAzempoch5d6hLRiTh8Cjcjb',
    algorithm: 'ed25519',
    messageSha256: crypto.randomBytes(32),
    signature: tezosSignature,
    tezos: { requestKind: 'block', level: 7, round: 0 },
  });
  const early = (await log.publish())!.note;
  await appendRange(log, 21, 40);
  await log.close();
  fs.writeFileSync(path.join(dir, 'early-checkpoint'), early);
  // A process that made entries durable and died before publishing them.
  const seq = openSequencer(logDir, { lockWaitMsMax: 1000 });
  seq.append([{ bytes: encodeLogEntry({ kind: 'revoke', source: 'admin', signature: signatureOf('sig', 1) }, 1).bytes, signature: signatureOf('sig', 1) }]);
  seq.close();

  // A fork: another log with the same key, whose checkpoint an auditor might have been shown.
  const forkDir = path.join(dir, 'fork');
  const fork = await openLog(forkDir, keyFile);
  await appendRange(fork, 1000, 1030);
  await fork.close();

  const insecure = path.join(dir, 'insecure.key');
  fs.copyFileSync(keyFile, insecure);
  fs.chmodSync(insecure, 0o644);
  fs.writeFileSync(path.join(dir, 'daemon.json'), JSON.stringify({ transparencyLog: logDir, port: 7001, key: '/etc/signerd/key.pem' }));
  fs.writeFileSync(path.join(dir, 'vkey'), `${vkey}\n`);
  const bundleFile = path.join(dir, 'tezos.tlog-proof');

  const [overwrite, vkeyOut, insecureOut, noLog, farEntry, unknownSig, tezosBundle, prove, config, publishNow] = await Promise.all([
    runSignerd(['log', 'keygen', '--origin', 'x.test/log', '--out', keyFile]),
    runSignerd(['log', 'vkey', '--transparency-log-key', keyFile]),
    runSignerd(['log', 'vkey', '--transparency-log-key', insecure]),
    runSignerd(['log', 'checkpoint', '--transparency-log', path.join(dir, 'nothing')]),
    runSignerd(['log', 'entry', '9999', '--transparency-log', logDir]),
    runSignerd(['log', 'bundle', 'ab'.repeat(64), '--transparency-log', logDir]),
    runSignerd(['log', 'bundle', edsig(tezosSignature), '--transparency-log', logDir, '--out', bundleFile]),
    runSignerd(['log', 'prove', '5', '--size', '10', '--transparency-log', logDir]),
    runSignerd(['log', 'entry', '3', '--config', path.join(dir, 'daemon.json')]),
    runSignerd(['log', 'checkpoint', '--transparency-log', logDir, '--transparency-log-key', keyFile]),
  ]);

  t.equal(overwrite.code, 78, 'keygen never overwrites a key');
  t.match(overwrite.stderr, 'CONFIG_INVALID');
  t.equal(vkeyOut.stdout.trim(), vkey, 'vkey prints the verifier key of a key file');
  t.equal(insecureOut.code, 78, 'a key file readable by others is refused');
  t.match(insecureOut.stderr, 'KEY_FILE_INSECURE');
  t.equal(noLog.code, 1, 'no checkpoint: exit 1');
  t.equal(farEntry.code, 1, 'an entry past the checkpoint: exit 1');
  t.equal(unknownSig.code, 1, 'a signature never logged: exit 1');
  t.equal(tezosBundle.code, 0, `a Tezos base58 signature finds its entry (${tezosBundle.stderr})`);
  const proof = parseInclusionProof(prove.stdout);
  t.ok(proof && proof.size === 10 && proof.index === 5, 'prove --size proves against an older tree');
  t.equal(config.code, 0, "a daemon's config file names the log (its other options are ignored)");
  t.match(config.stdout, '"kind":"');
  t.equal(publishNow.code, 0, publishNow.stderr);
  t.match(publishNow.stdout, /^signerd\.test\/log\n41\n/, 'checkpoint with the key first publishes what a crash left durable but unpublished');

  const bundled = fs.readFileSync(bundleFile, 'utf8');
  fs.writeFileSync(path.join(dir, 'victim'), 'not a bundle');
  fs.symlinkSync(path.join(dir, 'victim'), path.join(dir, 'linked.tlog-proof'));
  const [againOut, linkedOut, verified, wrongKey, wrongSignature, fromKeyFile, forked, previous, mistypedKey, rotation, rotationSwapped, unkeyedAudit] =
    await Promise.all([
      runSignerd(['log', 'bundle', edsig(tezosSignature), '--transparency-log', logDir, '--out', bundleFile]),
      runSignerd(['log', 'bundle', edsig(tezosSignature), '--transparency-log', logDir, '--out', path.join(dir, 'linked.tlog-proof')]),
      runSignerd(['log', 'verify', bundleFile, '--log-key', vkey, '--signature', edsig(tezosSignature)]),
      runSignerd(['log', 'verify', bundleFile, '--log-key', other.vkey]),
      runSignerd(['log', 'verify', bundleFile, '--log-key', vkey, '--signature', signatureOf('sig', 2).toString('hex')]),
      runSignerd(['log', 'verify', '-', '--log-key', path.join(dir, 'vkey')], fs.readFileSync(bundleFile, 'utf8')),
      runSignerd(['log', 'audit', forkDir, '--log-key', vkey, '--previous', path.join(dir, 'early-checkpoint')]),
      runSignerd(['log', 'audit', logDir, '--log-key', vkey, '--previous', path.join(dir, 'early-checkpoint')]),
      runSignerd(['log', 'audit', logDir, '--log-key', 'signerd.test/log+nothex+AAAA']),
      runSignerd(['log', 'verify', bundleFile, '--log-key', vkey, '--log-key', other.vkey]),
      runSignerd(['log', 'verify', bundleFile, '--log-key', other.vkey, '--log-key', vkey]),
      runSignerd(['log', 'audit', logDir]),
    ]);
  t.equal(againOut.code, 78, 'bundle --out never overwrites a file');
  t.match(againOut.stderr, `CONFIG_INVALID: ${bundleFile} exists; refusing to overwrite it`);
  t.equal(fs.readFileSync(bundleFile, 'utf8'), bundled, 'which is left as it was');
  t.equal(linkedOut.code, 78, 'nor writes through a link');
  t.equal(fs.readFileSync(path.join(dir, 'victim'), 'utf8'), 'not a bundle', "the link's target is left as it was");
  t.equal(rotation.code, 0, 'verify with two keys (a rotation): the one that signed is enough, first named');
  t.equal(rotationSwapped.code, 0, 'or second');
  t.equal(unkeyedAudit.code, 0, 'audit without --log-key checks the tiles');
  t.match(unkeyedAudit.stdout, /audit passed \(tiles and checkpoint agree; its signature was not checked: give --log-key\)/, 'and says what it did not check');
  t.equal(mistypedKey.code, 78, 'a mistyped --log-key is a usage error (exit 78), not a missing file');
  t.match(mistypedKey.stderr, /CONFIG_INVALID: --log-key: neither a verifier key .* nor a readable file/);
  t.equal(verified.code, 0, 'verify: the bundle of that signature, with the log key');
  t.match(verified.stdout, '"tezos":{"level":7,"requestKind":"block","round":0}');
  t.equal(wrongKey.code, 1, "verify with another log's key: exit 1");
  t.equal(wrongSignature.code, 1, 'verify --signature of another signature: exit 1');
  t.equal(fromKeyFile.code, 0, 'the key from a file, the bundle from stdin');
  t.equal(forked.code, 1, "audit --previous: a log that does not contain an earlier checkpoint's tree has forked");
  t.match(forked.stderr, 'forked');
  t.equal(previous.code, 0, `audit --previous on the same log passes (${previous.stderr})`);
  t.match(previous.stdout, 'consistent');

  const entry = proof && (await runSignerd(['log', 'entry', '5', '--transparency-log', logDir])).stdout.trim();
  t.ok(proof && entry && verifyInclusion(5, 10, leafHash(Buffer.from(entry)), proof.proof, proof.root), "the older tree's proof verifies");
});
