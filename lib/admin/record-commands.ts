// Operator commands over validity records, so nobody needs to know the store's layout:
// show, revoke, reinstate, export (JSON) and import (restore an exported record).
import fs from 'node:fs';
import type { CommandUnknownOpts } from '@commander-js/extra-typings';
import { DaemonError } from '../errors.js';
import { openValidityStore } from '../config/store-options.js';
import { storeAdminCommand } from './store-admin-command.js';
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

/** `create`: only import may start a store; the others look records up and refuse a directory without one. */
function adminCommand(
  name: string,
  description: string,
  create: boolean,
  run: (store: Admin, args: string[], opts: Record<string, unknown>) => Promise<number>,
): CommandUnknownOpts {
  return storeAdminCommand<Admin>({
    name,
    description,
    label: `signerd ${name}`,
    configHelp: "JSON file of store options, e.g. the daemon's own config file",
    configIgnoresUnknown: true,
    open: (settings, log) => openValidityStore(settings, { durable: true, create, log, logConnectionErrors: false }),
    run,
  });
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

export function recordCommands(): CommandUnknownOpts[] {
  const show = adminCommand('show', "print a signature's record and whether it is valid, revoked, expired or unknown", false, async (store, [sig], opts) => {
    const { status, record } = await store.inspect(signatureArg(sig!));
    if (opts['json']) process.stdout.write(JSON.stringify({ status, record: record && recordToJson(record) }) + '\n');
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
  });
  show.argument('<signature>', 'hex signature').option('--json', 'print one JSON object');

  const revoke = adminCommand('revoke', 'revoke a signature now (verify answers not valid); the record is kept for reinstate', false, async (store, [sig]) => {
    const done = await store.revoke(signatureArg(sig!));
    process.stdout.write(done ? 'revoked\n' : 'no live record for that signature\n');
    return done ? 0 : EXIT_NO_RECORD;
  });
  revoke.argument('<signature>', 'hex signature');

  const reinstate = adminCommand('reinstate', 'make a revoked signature valid again', false, async (store, [sig], opts) => {
    const done = await store.reinstate(signatureArg(sig!), (opts['ttl'] as number | undefined) ?? null);
    process.stdout.write(done ? 'reinstated\n' : 'no revoked record for that signature\n');
    return done ? 0 : EXIT_NO_RECORD;
  });
  reinstate.argument('<signature>', 'hex signature').option('--ttl <seconds>', 'give the record a new expiry, counted from now', parseCount('--ttl', 1));

  const exportCmd = adminCommand(
    'export',
    "print a signature's record as JSON (for backup, or to restore after a redis-cli DEL)",
    false,
    async (store, [sig]) => {
      const { record } = await store.inspect(signatureArg(sig!));
      if (record) process.stdout.write(JSON.stringify(recordToJson(record)) + '\n');
      return record ? 0 : EXIT_NO_RECORD;
    },
  );
  exportCmd.argument('<signature>', 'hex signature');

  const importCmd = adminCommand(
    'import',
    'write records exported earlier (JSON lines from a file or stdin) back as live records',
    true,
    async (store, [file]) => {
      const text = fs.readFileSync(file === undefined || file === '-' ? 0 : file, 'utf8');
      let count = 0;
      for (const line of text.split('\n').filter((l) => l.trim())) {
        await store.restore(recordFromJson(JSON.parse(line)));
        count++;
      }
      process.stdout.write(`imported ${count}\n`);
      return 0;
    },
  );
  importCmd.argument('[file]', 'JSON lines file; - or none for stdin');

  return [show, revoke, reinstate, exportCmd, importCmd];
}
