// The offline bundle as `signerd log verify` checks it: a good one verifies, and so does nothing
// else: each of its bytes changed on its own (an XOR of 1) is refused, base64 padding bits included,
// so no byte of a verified bundle can change with its verdict unchanged.
import crypto from 'node:crypto';
import t from 'tap';
import { checkpointText, parseCheckpointText } from '../../../lib/transparency/checkpoint.js';
import { inclusionProof, rootHash } from '../../../lib/transparency/merkle-tree.js';
import { generateNoteKey, parsePrivateKey, parseVerifierKey } from '../../../lib/transparency/note-key.js';
import { formatProofBundle, verifyProofBundle } from '../../../lib/transparency/proof-bundle.js';
import { parseHash } from '../../../lib/transparency/proof-text.js';
import { formatSignedNote } from '../../../lib/transparency/signed-note.js';
import { memoryTree } from './memory-tree.js';

t.test('every single-byte change to a bundle is refused', async (t) => {
  const entries = Array.from({ length: 6 }, (_, i) => Buffer.from(`{"kind":"sign","n":${i}}`));
  const tree = memoryTree(entries);
  const { privateKeyText, verifierKey } = generateNoteKey('example.com/log');
  const signer = parsePrivateKey(privateKeyText, 'test');
  const text = checkpointText({ origin: 'example.com/log', size: entries.length, root: rootHash(tree, entries.length) });
  const note = formatSignedNote(text, [{ name: signer.name, keyId: signer.keyId, signature: crypto.sign(null, Buffer.from(text), signer.privateKey) }]);
  const bundle = formatProofBundle({ entry: entries[3]!, index: 3, proof: inclusionProof(tree, 3, entries.length), checkpointNote: note });
  const key = parseVerifierKey(verifierKey);
  t.ok(verifyProofBundle(bundle, key).ok, 'the bundle verifies');
  const accepted: number[] = [];
  const bytes = Buffer.from(bundle);
  // As `log verify` reads a file: UTF-8 (the note's signature lines start with an em dash).
  t.ok(verifyProofBundle(Buffer.from(bytes).toString('utf8'), key).ok, 'the bundle read back from its bytes verifies');
  for (let i = 0; i < bytes.length; i++) {
    const changed = Buffer.from(bytes);
    changed[i]! ^= 1;
    if (verifyProofBundle(changed.toString('utf8'), key).ok) accepted.push(i);
  }
  t.same(accepted, [], `none of the ${bytes.length} one-byte changes verifies`);
});

t.test('a hash spelled with nonzero padding bits is not a hash', async (t) => {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const hash = crypto.createHash('sha256').update('x').digest();
  const canonical = hash.toString('base64');
  // 32 bytes in base64: the last character before '=' carries 4 bits and 2 unused ones.
  const last = alphabet.indexOf(canonical[42]!);
  const other = canonical.slice(0, 42) + alphabet[last ^ 1]! + '=';
  t.same(Buffer.from(other, 'base64'), hash, 'node decodes both spellings to the same bytes');
  t.same(parseHash(canonical), hash);
  t.equal(parseHash(other), null, 'the other spelling is refused');
  t.equal(parseCheckpointText(`example.com/log\n6\n${other}\n`), null, 'in a checkpoint too');
});
