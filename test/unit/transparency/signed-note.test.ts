// Signed notes and checkpoints against the Go sumdb/note vectors: key formats and key ids, the
// exact signature bytes (Ed25519 is deterministic), and verification as the spec sets it out.
import t from 'tap';
import crypto from 'node:crypto';
import { loadVectors } from '../../helpers/vectors.js';
import { codeOf } from '../../helpers/error-codes.js';
import { formatVerifierKey, generateNoteKey, parsePrivateKey, parseVerifierKey } from '../../../lib/transparency/note-key.js';
import { formatSignedNote, parseSignedNote, verifyNote } from '../../../lib/transparency/signed-note.js';
import { checkpointText, parseCheckpointText, verifyCheckpoint } from '../../../lib/transparency/checkpoint.js';

interface Vectors {
  signerKey: string;
  verifierKey: string;
  otherVerifierKey: string;
  text: string;
  signatureLine: string;
  otherSignatureLine: string;
}

const v = loadVectors<Vectors>('transparency/sumdb-note.json');

t.test('the Go signer key gives the Go verifier key and signature', async (t) => {
  const key = parsePrivateKey(v.signerKey, 'vector');
  t.equal(key.name, 'PeterNeumann');
  t.equal(key.keyId, 0xc74f20a3);
  t.equal(formatVerifierKey(key.name, key.publicKey), v.verifierKey);
  const signature = crypto.sign(null, Buffer.from(v.text), key.privateKey);
  t.equal(formatSignedNote(v.text, [{ name: key.name, keyId: key.keyId, signature }]), `${v.text}\n${v.signatureLine}`);
});

t.test('verification: the known key must verify, unknown keys are ignored', async (t) => {
  const peter = parseVerifierKey(v.verifierKey);
  const enoch = parseVerifierKey(v.otherVerifierKey);
  const both = `${v.text}\n${v.signatureLine}${v.otherSignatureLine}`;
  t.same(verifyNote(both, peter), { ok: true, text: v.text }, 'Peter verifies, Enoch ignored');
  t.same(verifyNote(both, enoch), { ok: true, text: v.text }, 'Enoch verifies, Peter ignored');
  t.equal(verifyNote(`${v.text}\n${v.otherSignatureLine}`, peter).ok, false, 'no signature by the trusted key');
  const tampered = both.replace('cryptography', 'cryptographY');
  t.equal(verifyNote(tampered, peter).ok, false, 'changed text');
  const flippedSig = both.replace('x08go/', 'x08go+');
  t.equal(verifyNote(flippedSig, peter).ok, false, 'changed signature');
  t.equal(verifyNote(v.text + v.signatureLine, peter).ok, false, 'no blank line');
  t.equal(parseSignedNote(`${v.text}\n${v.signatureLine}`.replace('\n', '\u0007\n')), null, 'control character');
});

t.test('verifier key parsing refuses every mangling', async (t) => {
  t.equal(
    codeOf(() => parseVerifierKey(v.verifierKey.replace('c74f20a3', 'c74f20a4'))),
    'BAD_REQUEST',
    'wrong key id',
  );
  t.equal(
    codeOf(() => parseVerifierKey(v.verifierKey.replace('PeterNeumann', 'Peter Neumann'))),
    'BAD_REQUEST',
    'space in name',
  );
  t.equal(
    codeOf(() => parseVerifierKey('PeterNeumann+c74f20a3')),
    'BAD_REQUEST',
    'no key',
  );
  t.equal(
    codeOf(() => parseVerifierKey('PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW')),
    'BAD_REQUEST',
    'unknown algorithm',
  );
  t.equal(
    codeOf(() => parsePrivateKey(v.signerKey.replace('PRIVATE', 'PUBLIC'), 'x')),
    'KEY_LOAD_FAILED',
    'not a private key',
  );
  t.equal(
    codeOf(() => parsePrivateKey(v.signerKey.replace('c74f20a3', '00000000'), 'x')),
    'KEY_LOAD_FAILED',
    'private key with the wrong key id',
  );
});

t.test('generated keys round-trip through both formats', async (t) => {
  const { privateKeyText, verifierKey } = generateNoteKey('example.com/log');
  const key = parsePrivateKey(privateKeyText, 'generated');
  t.equal(formatVerifierKey(key.name, key.publicKey), verifierKey);
  t.equal(
    codeOf(() => generateNoteKey('has space')),
    'CONFIG_INVALID',
  );
  t.equal(
    codeOf(() => generateNoteKey('has+plus')),
    'CONFIG_INVALID',
  );
});

t.test('checkpoints', async (t) => {
  const { privateKeyText, verifierKey } = generateNoteKey('example.com/behind-the-sofa');
  const key = parsePrivateKey(privateKeyText, 'generated');
  const root = crypto.createHash('sha256').update('root').digest();
  const text = checkpointText({ origin: key.name, size: 20852163, root });
  t.equal(text, `example.com/behind-the-sofa\n20852163\n${root.toString('base64')}\n`, 'three lines');
  t.same(parseCheckpointText(text), { origin: key.name, size: 20852163, root });
  t.same(parseCheckpointText(`${text}extension\n`)?.size, 20852163, 'extension lines are allowed');
  t.equal(parseCheckpointText(text.replace('20852163', '020852163')), null, 'leading zero');
  t.equal(parseCheckpointText(text.replace('\n', '\n\n')), null, 'empty line');
  const note = formatSignedNote(text, [{ name: key.name, keyId: key.keyId, signature: crypto.sign(null, Buffer.from(text), key.privateKey) }]);
  const verdict = verifyCheckpoint(note, parseVerifierKey(verifierKey));
  t.ok(verdict.ok && verdict.checkpoint.size === 20852163, 'verifies');
  const other = generateNoteKey('example.com/other');
  t.equal(verifyCheckpoint(note, parseVerifierKey(other.verifierKey)).ok, false, "another log's key");
});
