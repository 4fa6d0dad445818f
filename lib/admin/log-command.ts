// `signerd log …`: the transparency log's admin commands. keygen and vkey for the checkpoint key;
// checkpoint, entry, prove, consistency and bundle read a log directory; verify and audit are what
// an auditor runs offline with nothing but the log's verifier key.
import fs from 'node:fs';
import path from 'node:path';
import { Command, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { commandFailure, DaemonError, EXIT_CONFIG, failureLine, isDaemonError } from '../errors.js';
import { DEFAULT_LIMITS, LOG_PROOF_FILE_BYTES_MAX, SIGNATURE_BYTES_MAX } from '../limits.js';
import { applyConfigFile } from '../config/config-file.js';
import { parseCount, parseMilliseconds } from '../config/numbers.js';
import {
  addTransparencyLogDirOption,
  addTransparencyLogKeyOptions,
  openConfiguredTransparencyLog,
  openLogKeys,
  transparencyLogSettings,
} from '../config/transparency-log-options.js';
import { decodeHex } from '../protocol/encoding.js';
import { base58CheckBody } from '../protocol/base58.js';
import { generateNoteKey, parseVerifierKey, type NoteVerifierKey } from '../transparency/note-key.js';
import { verifierKeyOf } from '../transparency/checkpoint-signer.js';
import { readCheckpointFile } from '../transparency/tile-publisher.js';
import { openPublishedTree, type PublishedTree } from '../transparency/tile-reader.js';
import { consistencyProof, inclusionProof, rootHash } from '../transparency/merkle-tree.js';
import { verifyConsistency, verifyInclusion } from '../transparency/merkle-proof-check.js';
import { leafHash } from '../transparency/merkle-hash.js';
import { formatConsistencyProof, formatInclusionProof } from '../transparency/proof-text.js';
import { formatProofBundle, verifyProofBundle } from '../transparency/proof-bundle.js';
import { findEntriesBySignature } from '../transparency/entry-lookup.js';
import { auditLog } from '../transparency/log-audit.js';
import { SEQUENCER_FILE } from '../transparency/sequencer-db.js';
import { decodeLogEntry } from '../transparency/log-entry.js';
import { checkpointOfNote, verifyCheckpoint, type Checkpoint } from '../transparency/checkpoint.js';
import { readSecretFile } from '../keys/key-file.js';
import { logServe } from './log-serve-command.js';
import { fetchLog, removeFetched, writeMirroredCheckpoint } from '../transparency/log-mirror.js';
import { makeDirectory } from '../config/make-directory.js';
import { writeNewFile } from '../config/new-file.js';

/** Exit status when the answer is "no" (not found, not verified, audit problems): scripts branch on it. */
const EXIT_NO = 1;
/** Exit status when the log did not answer (sysexits EX_UNAVAILABLE), as for the stores. */
const EXIT_UNAVAILABLE = 69;

/**
 * Runs one subcommand's body: merges a --config file when the command has one (a daemon's config
 * names its log), then maps the outcome to an exit status: 0, 1 for "no" (not found, not verified,
 * audit problems), 69 when the log or its key did not answer, 78 for anything else.
 */
async function runLog(cmd: CommandUnknownOpts, run: () => Promise<number> | number): Promise<void> {
  try {
    const configFile = cmd.opts()['config'];
    if (typeof configFile === 'string') applyConfigFile(cmd, configFile, { ignoreUnknown: true });
    process.exitCode = await run();
  } catch (err) {
    process.stderr.write(failureLine(`signerd log ${cmd.name()}`, err));
    const { code } = commandFailure(err);
    process.exitCode = code === 'NOT_FOUND' ? EXIT_NO : code === 'LOG_UNAVAILABLE' || code === 'BACKEND_UNAVAILABLE' ? EXIT_UNAVAILABLE : EXIT_CONFIG;
  }
}

/** A command reading a log directory: --transparency-log, or a daemon's --config file naming it. */
function readingCommand(name: string, description: string) {
  return addTransparencyLogDirOption(
    new Command(name).description(description).option('--config <file>', "a daemon's JSON config file: its transparencyLog option names the log"),
  );
}

function logDir(opts: { transparencyLog?: string | undefined }): string {
  const dir = opts.transparencyLog;
  if (!dir) throw new DaemonError('CONFIG_INVALID', 'name the log: --transparency-log <dir> (or --config with transparencyLog)');
  return dir;
}

/** The log's published checkpoint (read, not verified: verify and audit check signatures). */
function published(dir: string): { note: string; checkpoint: Checkpoint; tree: PublishedTree } {
  const file = readCheckpointFile(dir);
  if (!file) throw new DaemonError('NOT_FOUND', `${dir} has no checkpoint yet (an empty log, or not a log directory)`);
  return { ...file, tree: openPublishedTree(dir, file.checkpoint.size) };
}

function index(text: string, what: string): number {
  return parseCount(what)(text);
}

/** A signature as hex, or as Tezos base58check (edsig…, spsig1…, p2sig…, sig…, BLsig…). */
export function signatureArg(text: string): Buffer {
  if (/^([0-9a-fA-F]{2})+$/.test(text)) return decodeHex(text, 'signature', SIGNATURE_BYTES_MAX);
  const body = base58CheckBody(text);
  // Tezos prefixes are 3 to 5 bytes; the signature is what follows (64 bytes, or 96 for BLS).
  const length = body === null ? undefined : [64, 96].find((n) => body.length - n >= 3 && body.length - n <= 5);
  if (body === null || length === undefined) throw new DaemonError('BAD_REQUEST', 'the signature must be hex or a Tezos base58check signature');
  return Buffer.from(body.subarray(body.length - length));
}

/** --log-key: the verifier key itself, or a file whose first line is one. */
function verifierKeyArg(value: string): NoteVerifierKey {
  if (/^[^\s+]+\+[0-9a-f]{8}\+/.test(value)) return parseVerifierKey(value);
  let text: string;
  try {
    text = readBounded(value, 4096).toString('utf8').split('\n')[0]!;
  } catch (err) {
    // A mistyped key is a usage error, not a missing log file.
    if (isDaemonError(err) && err.code === 'NOT_FOUND') {
      throw new DaemonError('CONFIG_INVALID', `--log-key: neither a verifier key (<name>+<8 hex>+<base64>) nor a readable file (${err.message})`);
    }
    throw err;
  }
  return parseVerifierKey(text);
}

function readBounded(file: string, bytesMax: number): Buffer {
  let data: Buffer;
  try {
    if (file !== '-' && fs.statSync(file).size > bytesMax) throw new DaemonError('BAD_REQUEST', `${file} is larger than ${bytesMax} bytes`);
    data = fs.readFileSync(file === '-' ? 0 : file);
  } catch (err) {
    if (err instanceof DaemonError) throw err;
    throw new DaemonError('NOT_FOUND', `${file}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
  if (data.length > bytesMax) throw new DaemonError('BAD_REQUEST', `${file} is larger than ${bytesMax} bytes`);
  return data;
}

function keygen() {
  const cmd = new Command('keygen')
    .description('create an Ed25519 checkpoint key: a note key file (mode 0600); prints the verifier key last')
    .requiredOption('--origin <name>', "the log's name, e.g. signer.example.com/log: the checkpoints' origin line and the key's name (no spaces or +)")
    .requiredOption('--out <file>', 'where to write the key (must not exist)');
  return cmd.action(({ origin, out }) =>
    runLog(cmd, () => {
      const { privateKeyText, verifierKey } = generateNoteKey(origin);
      writeNewFile(out, privateKeyText + '\n', 0o600);
      process.stdout.write(
        `key file  ${out} (secret: back it up offline; never give it out)\norigin    ${origin}\nverifier key (give this to auditors; \`signerd log verify --log-key\` takes it):\n${verifierKey}\n`,
      );
      return 0;
    }),
  );
}

function vkey() {
  const cmd = addTransparencyLogKeyOptions(
    addTransparencyLogDirOption(new Command('vkey').description('print the verifier key of a checkpoint key (a key file or a pkcs11: URI)')),
  );
  return cmd.action((opts) =>
    runLog(cmd, async () => {
      const keys = opts.transparencyLogKey ?? [];
      if (keys.length === 0) throw new DaemonError('CONFIG_INVALID', 'name the key: --transparency-log-key <file|uri>');
      const origin = opts.transparencyLogOrigin;
      const signers = await openLogKeys(
        { dir: opts.transparencyLog ?? '', keys, ...(origin === undefined ? {} : { origin }) },
        { callMsMax: DEFAULT_LIMITS.backendCallMsMax },
      );
      try {
        for (const s of signers) process.stdout.write(`${verifierKeyOf(s)}\n`);
      } finally {
        await Promise.all(signers.map(async (s) => s.close?.()));
      }
      return 0;
    }),
  );
}

function checkpoint() {
  const cmd = addTransparencyLogKeyOptions(
    readingCommand('checkpoint', 'print the latest signed checkpoint; with --transparency-log-key, first publish one covering every durable entry'),
  );
  return cmd.action(() =>
    runLog(cmd, async () => {
      const opts = cmd.opts();
      const dir = logDir(opts);
      if ((opts.transparencyLogKey ?? []).length > 0) {
        // Publishing is for an existing log: a mistyped directory must not become a new, empty one.
        if (!fs.existsSync(path.join(dir, SEQUENCER_FILE))) throw new DaemonError('NOT_FOUND', `${dir} is not a transparency log (no ${SEQUENCER_FILE})`);
        const log = await openConfiguredTransparencyLog(transparencyLogSettings(opts)!, { callMsMax: DEFAULT_LIMITS.backendCallMsMax });
        try {
          await log.publish();
        } finally {
          await log.close();
        }
      }
      process.stdout.write(published(dir).note);
      return 0;
    }),
  );
}

function entry() {
  const cmd = readingCommand('entry', 'print entry <index> (canonical JSON) from the published log').argument('<index>', 'entry index, from 0');
  return cmd.action((at) =>
    runLog(cmd, () => {
      const { tree } = published(logDir(cmd.opts()));
      process.stdout.write(`${tree.entry(index(at, '<index>')).toString('utf8')}\n`);
      return 0;
    }),
  );
}

function prove() {
  const cmd = readingCommand('prove', "print the inclusion proof of entry <index> in the tree of --size entries (default: the checkpoint's)")
    .argument('<index>', 'entry index, from 0')
    .option('--size <n>', "tree size to prove against (at most the checkpoint's)", parseCount('--size', 1));
  return cmd.action((indexText) =>
    runLog(cmd, () => {
      const opts = cmd.opts();
      const { checkpoint, tree } = published(logDir(opts));
      const size = opts.size ?? checkpoint.size;
      const at = index(indexText, '<index>');
      if (size > checkpoint.size || at >= size)
        throw new DaemonError('NOT_FOUND', `entry ${at} is not in a published tree of ${size} (the checkpoint has ${checkpoint.size})`);
      const root = rootHash(tree, size);
      if (size === checkpoint.size && !root.equals(checkpoint.root))
        throw new DaemonError('NOT_FOUND', 'the tiles do not match the checkpoint; run signerd log audit');
      const proof = inclusionProof(tree, at, size);
      if (!verifyInclusion(at, size, leafHash(tree.entry(at)), proof, root))
        throw new DaemonError('NOT_FOUND', 'the tiles give a proof that does not verify; run signerd log audit');
      process.stdout.write(formatInclusionProof({ index: at, size, root, proof }));
      return 0;
    }),
  );
}

function consistency() {
  const cmd = readingCommand('consistency', 'print the proof that the tree of <m> entries is a prefix of the tree of <n> entries')
    .argument('<m>', 'the smaller tree size')
    .argument('<n>', 'the larger tree size');
  return cmd.action((mText, nText) =>
    runLog(cmd, () => {
      const { checkpoint, tree } = published(logDir(cmd.opts()));
      const m = index(mText, '<m>');
      const n = index(nText, '<n>');
      if (m < 1 || m > n || n > checkpoint.size) throw new DaemonError('NOT_FOUND', `need 1 <= m <= n <= ${checkpoint.size} (the checkpoint's size)`);
      const oldRoot = rootHash(tree, m);
      const newRoot = rootHash(tree, n);
      const proof = consistencyProof(tree, m, n);
      if (!verifyConsistency(m, n, oldRoot, newRoot, proof))
        throw new DaemonError('NOT_FOUND', 'the tiles give a proof that does not verify; run signerd log audit');
      process.stdout.write(formatConsistencyProof({ oldSize: m, newSize: n, oldRoot, newRoot, proof }));
      return 0;
    }),
  );
}

function bundle() {
  const cmd = readingCommand(
    'bundle',
    "write the offline bundle of a signature's sign entry: the entry, its inclusion proof and the checkpoint (c2sp.org/tlog-proof)",
  )
    .argument('<signature>', 'the signature, hex or Tezos base58check')
    .option('--out <file>', 'write the bundle to this new file (an existing one is refused) instead of stdout');
  return cmd.action((signatureText) =>
    runLog(cmd, () => {
      const opts = cmd.opts();
      const dir = logDir(opts);
      const { note, checkpoint, tree } = published(dir);
      const signature = signatureArg(signatureText);
      const found = findEntriesBySignature(dir, tree, signature);
      const signed = found.published.find((f) => f.decoded?.['kind'] === 'sign');
      if (!signed) {
        const later = found.unpublished.length > 0 ? `; entry ${found.unpublished[0]} is durable but not yet checkpointed (one follows within seconds)` : '';
        throw new DaemonError('NOT_FOUND', `no sign entry for that signature in the published log of ${checkpoint.size}${later}`);
      }
      const proof = inclusionProof(tree, signed.index, checkpoint.size);
      if (!verifyInclusion(signed.index, checkpoint.size, leafHash(signed.entry), proof, checkpoint.root)) {
        throw new DaemonError('NOT_FOUND', "the tiles do not lead to the checkpoint's root; run signerd log audit");
      }
      const text = formatProofBundle({ entry: signed.entry, index: signed.index, proof, checkpointNote: note });
      // A new file, as every admin command's output: never over an existing one, nor through a link.
      if (opts.out) writeNewFile(opts.out, text, 0o644);
      else process.stdout.write(text);
      for (const other of found.published.filter((f) => f !== signed)) {
        process.stderr.write(`note: entry ${other.index} (${String(other.decoded?.['kind'])}) also names this signature\n`);
      }
      return 0;
    }),
  );
}

function verify() {
  const cmd = new Command('verify')
    .description("verify a bundle offline: the checkpoint's signature by --log-key and the entry's inclusion; prints the entry")
    .argument('<bundle>', 'bundle file (from signerd log bundle), or - for stdin')
    .requiredOption(
      '--log-key <vkey>',
      "the log's verifier key <name>+<hash>+<base64>, or a file holding it; repeat it during a key rotation (any one verifying is enough)",
      (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
    )
    .option('--signature <sig>', 'also require the entry to be the sign entry of this signature (hex or base58check)');
  return cmd.action((bundleFile, opts) =>
    runLog(cmd, () => {
      const text = readBounded(bundleFile, LOG_PROOF_FILE_BYTES_MAX).toString('utf8');
      // The first verdict that verifies, or the last refusal: one key of a rotation is enough.
      const verdicts = opts.logKey.map((k) => verifyProofBundle(text, verifierKeyArg(k)));
      const verdict = verdicts.find((v) => v.ok) ?? verdicts.at(-1)!;
      if (!verdict.ok) {
        process.stderr.write(`signerd log verify: NOT VERIFIED: ${verdict.reason}\n`);
        return EXIT_NO;
      }
      const decoded = decodeLogEntry(verdict.bundle.entry);
      if (opts.signature !== undefined && (decoded?.['kind'] !== 'sign' || decoded['signature'] !== signatureArg(opts.signature).toString('hex'))) {
        process.stderr.write("signerd log verify: NOT VERIFIED: the bundle's entry is not the sign entry of that signature\n");
        return EXIT_NO;
      }
      process.stdout.write(
        `verified: entry ${verdict.bundle.index} of ${verdict.checkpoint.origin}, tree size ${verdict.checkpoint.size}\n${verdict.bundle.entry.toString('utf8')}\n`,
      );
      return 0;
    }),
  );
}

function audit() {
  const cmd = new Command('audit')
    .description('recompute every tile of a log directory (or mirror) from its entries and check the checkpoint')
    .argument('<dir>', 'the log directory or a mirror of it')
    .option('--log-key <vkey>', "the log's verifier key (or a file holding it): also verify the checkpoint's signature")
    .option('--previous <checkpoint>', 'a checkpoint seen earlier: the log must still contain that tree (it never shrinks or forks)');
  return cmd.action((dir, opts) =>
    runLog(cmd, () => {
      const key = opts.logKey === undefined ? null : verifierKeyArg(opts.logKey);
      const previous = opts.previous === undefined ? null : previousCheckpoint(opts.previous, key);
      const report = auditLog(dir, key, previous);
      const cp = report.checkpoint;
      process.stdout.write(`checkpoint ${cp ? `${cp.origin} size ${cp.size} root ${cp.root.toString('base64')}` : 'none'}\n`);
      process.stdout.write(
        `signature  ${report.signature}\nentries    ${report.entries}${report.foreignEntries ? ` (${report.foreignEntries} not signerd entries)` : ''}\nfiles      ${report.files} checked\n`,
      );
      if (report.newerFiles > 0) process.stdout.write(`newer      ${report.newerFiles} files published after this checkpoint: checked where they overlap it\n`);
      if (previous)
        process.stdout.write(
          `previous   size ${previous.size}: ${report.problems.some((p) => p.startsWith('previous')) ? 'NOT consistent' : 'consistent (a prefix of this log)'}\n`,
        );
      for (const problem of report.problems) process.stderr.write(`problem: ${problem}\n`);
      const passed = key === null ? 'audit passed (tiles and checkpoint agree; its signature was not checked: give --log-key)\n' : 'audit passed\n';
      process.stdout.write(report.problems.length === 0 ? passed : `audit FAILED: ${report.problems.length} problem(s)\n`);
      return report.problems.length === 0 ? 0 : EXIT_NO;
    }),
  );
}

/** Time allowed for each GET of `signerd log mirror`. */
const MIRROR_REQUEST_MS_MAX = 10_000;
/** A certificate file (or a CA bundle) for `signerd log mirror --tls-*`. */
const MIRROR_PEM_BYTES_MAX = 1024 * 1024;

function mirror() {
  const cmd = new Command('mirror')
    .description(
      "follow a log served over HTTP (signerd log serve, or any C2SP tlog-tiles server) into a local mirror: fetch only what is new, audit the whole mirror, and advance the mirror's checkpoint only if the audit passes",
    )
    .argument('<url>', "the log's base URL, e.g. http://127.0.0.1:9870/")
    .requiredOption('--out <dir>', 'the mirror directory (made if missing); run again with the same directory to follow the log')
    .requiredOption('--log-key <vkey>', "the log's verifier key (or a file holding it): the served checkpoint must verify, or nothing is mirrored")
    .option('--request-ms-max <ms>', 'time allowed for each GET', parseMilliseconds('--request-ms-max', 1), MIRROR_REQUEST_MS_MAX)
    .option('--tls-ca <file>', "https: the certificate (or CA) to trust for the server instead of the system's, e.g. its `signerd tls selfsigned` certificate")
    .option('--tls-cert <file>', 'https: a client certificate, for a log server with client channels (`signerd client new`)')
    .option('--tls-key <file>', 'the key of --tls-cert (mode 0600)');
  return cmd.action((url, opts) =>
    runLog(cmd, async () => {
      const base = mirrorBase(url);
      // Required: over plain http, anyone in the path could otherwise feed a self-consistent forged log.
      const key = verifierKeyArg(opts.logKey);
      makeDirectory(opts.out, 0o755);
      const before = readCheckpointFile(opts.out);
      if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) throw new DaemonError('CONFIG_INVALID', '--tls-cert and --tls-key go together');
      const tlsOptions = opts.tlsCa !== undefined || opts.tlsCert !== undefined;
      if (tlsOptions && base.protocol !== 'https:') throw new DaemonError('CONFIG_INVALID', '--tls-ca, --tls-cert and --tls-key need an https:// URL');
      const tls = {
        ...(opts.tlsCa === undefined ? {} : { ca: readBounded(opts.tlsCa, MIRROR_PEM_BYTES_MAX) }),
        ...(opts.tlsCert === undefined ? {} : { cert: readBounded(opts.tlsCert, MIRROR_PEM_BYTES_MAX) }),
        ...(opts.tlsKey === undefined ? {} : { key: readSecretFile(opts.tlsKey, '--tls-key') }),
      };
      const fetched = await fetchLog({ base, msMax: opts.requestMsMax, tls }, opts.out, key);
      const problems = [...fetched.problems];
      // The mirror with the fetched files, audited against the fetched checkpoint before it is put in place.
      if (problems.length === 0) problems.push(...auditLog(opts.out, key, before?.checkpoint ?? null, fetched.note).problems);
      const cp = fetched.checkpoint;
      process.stdout.write(`served     ${cp ? `${cp.origin} size ${cp.size} root ${cp.root.toString('base64')}` : 'no usable checkpoint'}\n`);
      process.stdout.write(`files      ${fetched.created.length} fetched, ${fetched.kept} already mirrored\n`);
      if (before) process.stdout.write(`previous   size ${before.checkpoint.size}\n`);
      for (const problem of problems) process.stderr.write(`problem: ${problem}\n`);
      if (problems.length > 0) {
        // Back to exactly what the mirror held: only the files its checkpoint covers.
        removeFetched(opts.out, fetched.created);
        process.stdout.write(`mirror FAILED: ${problems.length} problem(s); the mirror is unchanged\n`);
        return EXIT_NO;
      }
      writeMirroredCheckpoint(opts.out, fetched.note);
      process.stdout.write('audit passed; the mirror is at the served checkpoint\n');
      return 0;
    }),
  );
}

/** An http(s) base URL ending in '/', so tile paths resolve below it. */
function mirrorBase(text: string): URL {
  let url: URL;
  try {
    url = new URL(text.endsWith('/') ? text : `${text}/`);
  } catch {
    throw new DaemonError('CONFIG_INVALID', `${text}: not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new DaemonError('CONFIG_INVALID', `${text}: http:// or https:// only`);
  if (url.search || url.hash || url.username || url.password) throw new DaemonError('CONFIG_INVALID', `${text}: no query, fragment or credentials`);
  return url;
}

function previousCheckpoint(file: string, key: NoteVerifierKey | null): Checkpoint {
  const note = readBounded(file, LOG_PROOF_FILE_BYTES_MAX).toString('utf8');
  if (key) {
    const verdict = verifyCheckpoint(note, key);
    if (!verdict.ok) throw new DaemonError('BAD_REQUEST', `--previous ${file}: ${verdict.reason}`);
    return verdict.checkpoint;
  }
  const cp = checkpointOfNote(note);
  if (!cp) throw new DaemonError('BAD_REQUEST', `--previous ${file}: not a checkpoint`);
  return cp;
}

export function logCommand() {
  const log = new Command('log').description(
    'the transparency log of what signerd signed and revoked: keys, checkpoints, entries, proofs, bundles, offline verification and audit, serving and mirroring over HTTP',
  );
  for (const make of [keygen, vkey, checkpoint, entry, prove, consistency, bundle, verify, audit, mirror, logServe])
    log.addCommand(make() as CommandUnknownOpts);
  return log;
}
