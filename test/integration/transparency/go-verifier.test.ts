// signerd's log against an independent verifier built from the Go reference packages (Debian's
// golang.org/x/mod sumdb/note and sumdb/tlog): it accepts the checkpoints, tiles, entry bundles,
// inclusion and consistency proofs and bundles signerd writes, and rejects each after one flipped
// byte in a tile, an entry or a signature. signerd's own audit and verify must agree.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { needGo } from '../../helpers/go-tools.js';
import { runSignerd } from '../../helpers/daemon.js';
import { auditLog } from '../../../lib/transparency/log-audit.js';
import { parseVerifierKey } from '../../../lib/transparency/note-key.js';
import { openPublishedTree } from '../../../lib/transparency/tile-reader.js';
import { consistencyProof, inclusionProof, rootHash } from '../../../lib/transparency/merkle-tree.js';
import { formatConsistencyProof, formatInclusionProof } from '../../../lib/transparency/proof-text.js';
import { formatProofBundle, parseProofBundle, verifyProofBundle } from '../../../lib/transparency/proof-bundle.js';
import { appendRange, copyDir, flipFileByte, flipNoteSignature, keygenCommand, openLog, runGo, signatureOf } from './fixtures.js';

// 700 entries: two full level-0 tiles and a partial one of 188, and a partial level-1 tile of 2.
const SIZES = [5, 300, 700];

t.test('the Go verifier accepts what signerd writes and rejects every flipped byte', needGo(), async (t) => {
  const dir = t.testdir();
  const logDir = path.join(dir, 'log');
  const { keyFile, vkey } = await keygenCommand(dir);
  t.equal(fs.statSync(keyFile).mode & 0o777, 0o600, 'keygen writes the key 0600');
  const key = parseVerifierKey(vkey);

  const log = await openLog(logDir, keyFile);
  const checkpoints: string[] = [];
  let size = 0;
  for (const next of SIZES) {
    await appendRange(log, size, next);
    size = next;
    checkpoints.push((await log.publish())!.note);
  }
  await log.close();
  const cpFiles = checkpoints.map((note, i) => {
    const file = path.join(dir, `checkpoint-${SIZES[i]}`);
    fs.writeFileSync(file, note);
    return file;
  });

  t.test('accepted', async (t) => {
    for (const file of cpFiles) t.equal(runGo('checkpoint', vkey, file).code, 0, `checkpoint ${path.basename(file)}`);
    const tiles = runGo('tiles', vkey, logDir);
    t.equal(tiles.code, 0, `tiles and entry bundles: ${tiles.out}`);
    const tree = openPublishedTree(logDir, 700);
    for (const index of [0, 255, 256, 511, 512, 699]) {
      fs.writeFileSync(path.join(dir, 'entry'), tree.entry(index));
      fs.writeFileSync(path.join(dir, 'proof'), formatInclusionProof({ index, size: 700, root: rootHash(tree, 700), proof: inclusionProof(tree, index, 700) }));
      t.equal(runGo('inclusion', vkey, cpFiles[2]!, path.join(dir, 'entry'), path.join(dir, 'proof')).code, 0, `inclusion of ${index}`);
    }
    for (const [a, b] of [
      [0, 1],
      [0, 2],
      [1, 2],
    ] as const) {
      const proof = formatConsistencyProof({
        oldSize: SIZES[a]!,
        newSize: SIZES[b]!,
        oldRoot: rootHash(tree, SIZES[a]!),
        newRoot: rootHash(tree, SIZES[b]!),
        proof: consistencyProof(tree, SIZES[a]!, SIZES[b]!),
      });
      fs.writeFileSync(path.join(dir, 'consistency'), proof);
      t.equal(runGo('consistency', vkey, cpFiles[a]!, cpFiles[b]!, path.join(dir, 'consistency')).code, 0, `consistency ${SIZES[a]} → ${SIZES[b]}`);
    }
  });

  t.test('what the commands print is accepted too', async (t) => {
    const bundleFile = path.join(dir, 'sig-300.tlog-proof');
    const [entry, prove, consistency, bundle] = await Promise.all([
      runSignerd(['log', 'entry', '300', '--transparency-log', logDir]),
      runSignerd(['log', 'prove', '300', '--transparency-log', logDir]),
      runSignerd(['log', 'consistency', '5', '700', '--transparency-log', logDir]),
      runSignerd(['log', 'bundle', signatureOf('sig', 300).toString('hex'), '--transparency-log', logDir, '--out', bundleFile]),
    ]);
    t.same([entry.code, prove.code, consistency.code, bundle.code], [0, 0, 0, 0], 'the commands succeed');
    fs.writeFileSync(path.join(dir, 'entry-300'), entry.stdout);
    fs.writeFileSync(path.join(dir, 'prove-300'), prove.stdout);
    fs.writeFileSync(path.join(dir, 'consistency-5-700'), consistency.stdout);
    t.equal(runGo('inclusion', vkey, cpFiles[2]!, path.join(dir, 'entry-300'), path.join(dir, 'prove-300')).code, 0, 'signerd log prove');
    t.equal(runGo('consistency', vkey, cpFiles[0]!, cpFiles[2]!, path.join(dir, 'consistency-5-700')).code, 0, 'signerd log consistency');
    const goBundle = runGo('bundle', vkey, bundleFile);
    t.equal(goBundle.code, 0, `signerd log bundle: ${goBundle.out}`);
    t.match(goBundle.out, `"signature":"${signatureOf('sig', 300).toString('hex')}"`, 'the bundle carries the sign entry');
    const verify = await runSignerd(['log', 'verify', bundleFile, '--log-key', vkey, '--signature', signatureOf('sig', 300).toString('hex')]);
    t.equal(verify.code, 0, 'signerd log verify agrees');
  });

  t.test('one flipped byte in a tile, an entry bundle or the checkpoint signature', async (t) => {
    const cases: Array<[string, (d: string) => void]> = [
      ['a full level-0 tile', (d) => flipFileByte(path.join(d, 'tile/0/001'), 4000)],
      ['the partial level-0 tile', (d) => flipFileByte(path.join(d, 'tile/0/002.p/188'), -1)],
      ['the level-1 tile', (d) => flipFileByte(path.join(d, 'tile/1/000.p/2'), 0)],
      ['an entry in a full bundle', (d) => flipFileByte(path.join(d, 'tile/entries/000'), 1000)],
      ['an entry in the partial bundle', (d) => flipFileByte(path.join(d, 'tile/entries/002.p/188'), -2)],
      ['the checkpoint signature', (d) => fs.writeFileSync(path.join(d, 'checkpoint'), flipNoteSignature(fs.readFileSync(path.join(d, 'checkpoint'), 'utf8')))],
    ];
    cases.forEach(([what, corrupt], i) => {
      const copy = copyDir(logDir, path.join(dir, `corrupt-${i}`));
      corrupt(copy);
      const go = runGo('tiles', vkey, copy);
      t.equal(go.code, 1, `Go rejects ${what}: ${go.out}`);
      t.not(auditLog(copy, key).problems.length, 0, `signerd audit rejects ${what}`);
    });
  });

  t.test('one flipped byte in a bundle, an entry or a proof', async (t) => {
    const tree = openPublishedTree(logDir, 700);
    const good = formatProofBundle({ entry: tree.entry(42), index: 42, proof: inclusionProof(tree, 42, 700), checkpointNote: checkpoints[2]! });
    const parsed = parseProofBundle(good)!;
    const flipped = (b: Buffer, at: number): Buffer => Buffer.from(b.map((x, i) => (i === at ? x ^ 0x01 : x)));
    const bad: Array<[string, string]> = [
      ['the entry', formatProofBundle({ ...parsed, entry: flipped(parsed.entry, 30) })],
      ['a proof hash', formatProofBundle({ ...parsed, proof: parsed.proof.map((h, i) => (i === 3 ? flipped(h, 0) : h)) })],
      ['the checkpoint signature', formatProofBundle({ ...parsed, checkpointNote: flipNoteSignature(parsed.checkpointNote) })],
      ['the index', formatProofBundle({ ...parsed, index: 43 })],
    ];
    fs.writeFileSync(path.join(dir, 'good.tlog-proof'), good);
    t.equal(runGo('bundle', vkey, path.join(dir, 'good.tlog-proof')).code, 0, 'the unflipped bundle verifies');
    t.ok(verifyProofBundle(good, key).ok, 'signerd verifies it');
    for (const [what, text] of bad) {
      const file = path.join(dir, 'bad.tlog-proof');
      fs.writeFileSync(file, text);
      t.equal(runGo('bundle', vkey, file).code, 1, `Go rejects a flipped ${what}`);
      t.notOk(verifyProofBundle(text, key).ok, `signerd rejects a flipped ${what}`);
    }
    const entryFile = path.join(dir, 'entry-42');
    fs.writeFileSync(entryFile, flipped(tree.entry(42), 5));
    fs.writeFileSync(
      path.join(dir, 'proof-42'),
      formatInclusionProof({ index: 42, size: 700, root: rootHash(tree, 700), proof: inclusionProof(tree, 42, 700) }),
    );
    t.equal(runGo('inclusion', vkey, cpFiles[2]!, entryFile, path.join(dir, 'proof-42')).code, 1, 'Go rejects an inclusion proof for a flipped entry');
    const consistency = consistencyProof(tree, 300, 700);
    fs.writeFileSync(
      path.join(dir, 'bad-consistency'),
      formatConsistencyProof({
        oldSize: 300,
        newSize: 700,
        oldRoot: rootHash(tree, 300),
        newRoot: rootHash(tree, 700),
        proof: consistency.map((h, i) => (i === 0 ? flipped(h, 9) : h)),
      }),
    );
    t.equal(runGo('consistency', vkey, cpFiles[1]!, cpFiles[2]!, path.join(dir, 'bad-consistency')).code, 1, 'Go rejects a flipped consistency proof');
  });
});
