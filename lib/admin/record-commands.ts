// Operator commands over validity records, so nobody needs to know the store's layout:
// show, revoke, reinstate, export (JSON) and import (restore an exported record).
import fs from 'node:fs';
import { DaemonError } from '../errors.js';
import { openValidityStore } from '../store/open-validity-store.js';
import { runStoreAdmin, storeCommand, type StoreAdminSpec } from './store-admin-command.js';
import { parseCount } from '../config/numbers.js';
import { decodeHex } from '../protocol/encoding.js';
import { pythonBytesRepr } from '../protocol/python-repr.js';
import type { SignatureRecord, ValidityAdmin, ValidityStore } from '../store/validity-store.js';

type Admin = ValidityStore & ValidityAdmin;

/** Exit status when the record is not in the state asked about: scripts can branch on it. */
const EXIT_NO_RECORD = 1;

function signatureArg(text: string): string {
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

export function recordToJson(r: SignatureRecord): object {
  return {
    signature: r.signature,
    message: r.message.toString('base64'),
    keyId: r.keyId,
    algorithm: r.algorithm,
    createdMs: r.createdMs,
    expiresMs: r.expiresMs,
  };
}

function recordFromJson(value: unknown): SignatureRecord {
  const v = value as Record<string, unknown>;
  if (typeof v?.['signature'] !== 'string' || typeof v['message'] !== 'string' || typeof v['keyId'] !== 'string' || typeof v['algorithm'] !== 'string') {
    throw new DaemonError('BAD_REQUEST', 'expected an exported record: {signature, message (base64), keyId, algorithm, createdMs, expiresMs}');
  }
  return {
    signature: signatureArg(v['signature']),
    message: Buffer.from(v['message'], 'base64'),
    keyId: v['keyId'],
    algorithm: v['algorithm'],
    createdMs: typeof v['createdMs'] === 'number' ? v['createdMs'] : Date.now(),
    expiresMs: typeof v['expiresMs'] === 'number' ? v['expiresMs'] : null,
  };
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

  const revoke = storeCommand('revoke', 'revoke a signature now (verify answers not valid); the record is kept for reinstate', CONFIG_HELP).argument(
    '<signature>',
    'hex signature',
  );
  revoke.action((sig) =>
    runStoreAdmin(revoke, records('revoke', false), async (store) => {
      const done = await store.revoke(signatureArg(sig));
      process.stdout.write(done ? `revoked (durable: ${store.describeDurability()})\n` : 'no live record for that signature\n');
      return done ? 0 : EXIT_NO_RECORD;
    }),
  );

  const reinstate = storeCommand('reinstate', 'make a revoked signature valid again', CONFIG_HELP)
    .argument('<signature>', 'hex signature')
    .option('--ttl <seconds>', 'give the record a new expiry, counted from now', parseCount('--ttl', 1));
  reinstate.action((sig) =>
    runStoreAdmin(reinstate, records('reinstate', false), async (store, opts) => {
      const done = await store.reinstate(signatureArg(sig), opts.ttl ?? null);
      process.stdout.write(done ? `reinstated (durable: ${store.describeDurability()})\n` : 'no revoked record for that signature\n');
      return done ? 0 : EXIT_NO_RECORD;
    }),
  );

  const exportCmd = storeCommand('export', "print a signature's record as JSON (for backup, or to restore after a redis-cli DEL)", CONFIG_HELP).argument(
    '<signature>',
    'hex signature',
  );
  exportCmd.action((sig) =>
    runStoreAdmin(exportCmd, records('export', false), async (store) => {
      const { record } = await store.inspect(signatureArg(sig));
      if (record) process.stdout.write(JSON.stringify(recordToJson(record)) + '\n');
      return record ? 0 : EXIT_NO_RECORD;
    }),
  );

  const importCmd = storeCommand('import', 'write records exported earlier (JSON lines from a file or stdin) back as live records', CONFIG_HELP).argument(
    '[file]',
    'JSON lines file; - or none for stdin',
  );
  importCmd.action((file) =>
    runStoreAdmin(importCmd, records('import', true), async (store) => {
      const text = fs.readFileSync(file === undefined || file === '-' ? 0 : file, 'utf8');
      let count = 0;
      for (const line of text.split('\n').filter((l) => l.trim())) {
        await store.restore(recordFromJson(JSON.parse(line)));
        count++;
      }
      process.stdout.write(`imported ${count}\n`);
      return 0;
    }),
  );

  return [show, revoke, reinstate, exportCmd, importCmd];
}
