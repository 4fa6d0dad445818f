// Operator commands over validity records, so nobody needs to know the store's layout:
// show, revoke, reinstate, export (JSON) and import (restore an exported record). With a
// transparency log, revoke, reinstate and import record what they changed (docs/transparency-log.md).
import fs from 'node:fs';
import { DaemonError } from '../errors.js';
import { LOG_BATCH_ENTRIES_MAX, TTL_SECONDS_MAX } from '../limits.js';
import { openValidityStore } from '../store/open-validity-store.js';
import { runStoreAdmin, storeCommand, type StoreAdminSpec } from './store-admin-command.js';
import { parseCount } from '../config/numbers.js';
import { decodeHex } from '../protocol/encoding.js';
import { pythonBytesRepr } from '../protocol/python-repr.js';
import type { SignatureRecord, ValidityAdmin, ValidityStore } from '../store/validity-store.js';
import { addAdminLogOptions, withAdminLog, type AdminLog } from './admin-transparency-log.js';
import { isSignatureAlgorithm } from '../crypto/signature-algorithms.js';

type Admin = ValidityStore & ValidityAdmin;

/** Exit status when the record is not in the state asked about: scripts can branch on it. */
const EXIT_NO_RECORD = 1;

function signatureArg(text: string): string {
  if (text.length === 0) throw new DaemonError('BAD_REQUEST', 'the signature is empty');
  decodeHex(text, 'signature', 4096);
  return text.toLowerCase();
}

const CONFIG_HELP = "JSON file of store options, e.g. the daemon's own config file";

/** `create`: only import may start a store; the others look records up and refuse a directory without one. */
function records(name: string, create: boolean): StoreAdminSpec<Admin> {
  return {
    label: `signerd ${name}`,
    configIgnoresUnknown: true,
    open: (settings, log) => openValidityStore(settings, { durable: true, create, log, logConnectionErrors: false }),
  };
}

/** `revoked`: written for a revoked record, so that importing the export never makes it live again. */
export function recordToJson(r: SignatureRecord, revoked = false): object {
  return {
    signature: r.signature,
    message: r.message.toString('base64'),
    keyId: r.keyId,
    algorithm: r.algorithm,
    createdMs: r.createdMs,
    expiresMs: r.expiresMs,
    ...(revoked ? { revoked: true } : {}),
  };
}

/** A line of an export file: the record, and whether it was revoked when exported. */
interface ExportedRecord {
  record: SignatureRecord;
  revoked: boolean;
}

/** What the sign daemons write as a record's key id: 16 hex digits of SHA-256 over the public key. */
const KEY_ID = /^[0-9a-f]{16}$/;

/** One line of an export file, checked as strictly as export writes it; errors name the line, never its content. */
function recordFromLine(line: string, lineNo: number): ExportedRecord {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new DaemonError('BAD_REQUEST', `line ${lineNo}: not JSON`);
  }
  const v = value as Record<string, unknown>;
  const bad = (what: string): DaemonError => new DaemonError('BAD_REQUEST', `line ${lineNo}: ${what}`);
  if (typeof v?.['signature'] !== 'string' || typeof v['message'] !== 'string' || typeof v['keyId'] !== 'string' || typeof v['algorithm'] !== 'string') {
    throw bad('expected an exported record: {signature, message (base64), keyId, algorithm, createdMs, expiresMs}');
  }
  const message = Buffer.from(v['message'], 'base64');
  // Buffer's decoder skips what is not base64; export writes canonical base64, so anything else is damage.
  if (message.toString('base64') !== v['message']) throw bad('message is not base64 as export writes it');
  const createdMs = v['createdMs'] === undefined ? Date.now() : v['createdMs'];
  if (!isEpochMs(createdMs)) throw bad('createdMs must be epoch milliseconds (a date show can print)');
  const expiresMs = v['expiresMs'] ?? null;
  if (expiresMs !== null && !isEpochMs(expiresMs)) throw bad('expiresMs must be epoch milliseconds (a date show can print) or null');
  let signature: string;
  try {
    signature = signatureArg(v['signature']);
  } catch (err) {
    throw bad((err as Error).message);
  }
  // A record no verifier could use would only turn a signature's verdict from valid into no match.
  if (!isSignatureAlgorithm(v['algorithm'])) throw bad('algorithm must be rsa-pss-sha256 or ecdsa-p384-sha384');
  if (!KEY_ID.test(v['keyId'])) throw bad('keyId must be 16 lowercase hex digits, as the sign daemons write it');
  const revoked = v['revoked'] ?? false;
  if (typeof revoked !== 'boolean') throw bad('revoked must be true or false');
  return { record: { signature, message, keyId: v['keyId'], algorithm: v['algorithm'], createdMs, expiresMs }, revoked };
}

/** The latest instant a JavaScript Date holds (ECMA-262 §21.4.1.1): `show` and `export` print every time as one. */
const DATE_MS_MAX = 8.64e15;

function isEpochMs(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= DATE_MS_MAX;
}

/** A restored record is a signature made valid by hand: logged as reinstate, before it is written (fail closed). */
async function logRestores(log: AdminLog | null, imported: readonly SignatureRecord[]): Promise<void> {
  await log?.record(imported.map((r) => ({ kind: 'reinstate', signature: Buffer.from(r.signature, 'hex'), expiresMs: r.expiresMs })));
}

export function recordCommands() {
  const show = storeCommand('show', "print a signature's record and whether it is valid, revoked, expired or unknown", CONFIG_HELP)
    .argument('<signature>', 'hex signature')
    .option('--json', 'print one JSON object');
  show.action((sig) =>
    runStoreAdmin(show, records('show', false), async (store, opts) => {
      const { status, record } = await store.inspect(signatureArg(sig));
      if (opts.json) process.stdout.write(JSON.stringify({ status, record: record && recordToJson(record) }) + '\n');
      else {
        process.stdout.write(`status     ${status}\n`);
        if (record) {
          process.stdout.write(`key id     ${record.keyId}\nalgorithm  ${record.algorithm}\ncreated    ${new Date(record.createdMs).toISOString()}\n`);
          process.stdout.write(
            `expires    ${record.expiresMs === null ? 'never' : new Date(record.expiresMs).toISOString()}\nmessage    ${pythonBytesRepr(record.message)}\n`,
          );
        }
      }
      return status === 'valid' ? 0 : EXIT_NO_RECORD;
    }),
  );

  const revoke = addAdminLogOptions(
    storeCommand('revoke', 'revoke a signature now (verify answers not valid); the record is kept for reinstate', CONFIG_HELP),
  ).argument('<signature>', 'hex signature');
  revoke.action((sig) =>
    runStoreAdmin(revoke, records('revoke', false), (store, opts) =>
      withAdminLog(opts, async (log) => {
        const signature = signatureArg(sig);
        // Revoking is the safe direction: it happens first and never waits for the log. A revoke
        // whose entry failed is done but not logged; running it again logs it (exit 1: nothing left to revoke).
        const done = await store.revoke(signature);
        process.stdout.write(done ? `revoked (durable: ${store.describeDurability()})\n` : 'no live record for that signature\n');
        if (log && (done || (await store.inspect(signature)).status === 'revoked'))
          await log.record([{ kind: 'revoke', signature: Buffer.from(signature, 'hex') }]);
        return done ? 0 : EXIT_NO_RECORD;
      }),
    ),
  );

  const reinstate = addAdminLogOptions(storeCommand('reinstate', 'make a revoked signature valid again', CONFIG_HELP))
    .argument('<signature>', 'hex signature')
    .option('--ttl <seconds>', 'give the record a new expiry, counted from now', parseCount('--ttl', 1, TTL_SECONDS_MAX));
  reinstate.action((sig) =>
    runStoreAdmin(reinstate, records('reinstate', false), (store, opts) =>
      withAdminLog(opts, async (log) => {
        const signature = signatureArg(sig);
        // One expiry, computed once: the entry names exactly what the store keeps.
        const expiresMs = opts.ttl === undefined ? null : Date.now() + opts.ttl * 1000;
        if (log) {
          // Making a signature valid again is logged first: no reinstatement without its entry.
          const { status, record } = await store.inspect(signature);
          if (status !== 'revoked' || !record) {
            process.stdout.write('no revoked record for that signature\n');
            return EXIT_NO_RECORD;
          }
          await log.record([{ kind: 'reinstate', signature: Buffer.from(signature, 'hex'), expiresMs: expiresMs ?? record.expiresMs }]);
        }
        const done = await store.reinstate(signature, expiresMs);
        process.stdout.write(done ? `reinstated (durable: ${store.describeDurability()})\n` : 'no revoked record for that signature\n');
        return done ? 0 : EXIT_NO_RECORD;
      }),
    ),
  );

  const exportCmd = storeCommand('export', "print a signature's record as JSON (for backup, or to restore after a redis-cli DEL)", CONFIG_HELP).argument(
    '<signature>',
    'hex signature',
  );
  exportCmd.action((sig) =>
    runStoreAdmin(exportCmd, records('export', false), async (store) => {
      const { status, record } = await store.inspect(signatureArg(sig));
      if (record) process.stdout.write(JSON.stringify(recordToJson(record, status === 'revoked')) + '\n');
      return record ? 0 : EXIT_NO_RECORD;
    }),
  );

  const importCmd = addAdminLogOptions(
    storeCommand(
      'import',
      'write records exported earlier (JSON lines from a file or stdin) back as live records, where the store has none for the signature',
      CONFIG_HELP,
    ),
  ).argument('[file]', 'JSON lines file; - or none for stdin');
  importCmd.action((file) =>
    runStoreAdmin(importCmd, records('import', true), (store, opts) =>
      withAdminLog(opts, async (log) => {
        const text = fs.readFileSync(file === undefined || file === '-' ? 0 : file, 'utf8');
        // Every line is checked before anything is written.
        const lines: ExportedRecord[] = [];
        text.split('\n').forEach((line, i) => line.trim() && lines.push(recordFromLine(line, i + 1)));
        // A record revoked when exported stays unwritten: a missing record verifies as a revoked one
        // does (not valid), and writing it would make it live.
        const candidates = lines.filter((l) => !l.revoked).map((l) => l.record);
        let imported = 0;
        // Batch by batch, each logged before it is written: a failure leaves at most one batch logged
        // but not restored, never thousands of entries for restores that did not happen. Signatures
        // the store already has a record for (live, revoked, expired) are left alone and not logged:
        // a backup restored late must not undo a revocation made since.
        for (let at = 0; at < candidates.length; at += LOG_BATCH_ENTRIES_MAX) {
          const batch = candidates.slice(at, at + LOG_BATCH_ENTRIES_MAX);
          const statuses = await Promise.all(batch.map((r) => store.inspect(r.signature)));
          const absent = batch.filter((_, i) => statuses[i]!.status === 'unknown');
          await logRestores(log, absent);
          for (const record of absent) if (await store.restore(record)) imported++;
        }
        const revoked = lines.length - candidates.length;
        process.stdout.write(`imported ${imported}, already present ${candidates.length - imported}, revoked (not restored) ${revoked}\n`);
        return 0;
      }),
    ),
  );

  return [show, revoke, reinstate, exportCmd, importCmd];
}
