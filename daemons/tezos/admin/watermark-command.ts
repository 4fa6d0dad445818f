// `signerd tezos watermark show|set|export|import`: inspect marks and move them between hosts
// without knowing the store's layout. Writes only ever raise a mark unless --force is given.
import fs from 'node:fs';
import { Command, Option, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { DaemonError } from '../../../lib/errors.js';
import { storeAdminCommand } from '../../../lib/admin/store-admin-command.js';
import { parseCount } from '../../../lib/config/numbers.js';
import { invalidEntryReason, MARKED_KINDS, type MarkEntry, type WatermarkAdmin, type WatermarkStore } from '../watermark/watermark-store.js';
import { openWatermarks } from '../watermark/open-watermark-store.js';

type Store = WatermarkStore & WatermarkAdmin;

const EXPORT_FORMAT = 'signerd-tezos-watermarks';
/** Exit status of `set`/`import` when a mark would have been lowered (without --force). */
const EXIT_NOT_RAISED = 1;

/** `create`: set and import may start a store (a new host); show and export refuse a directory without one. */
function adminCommand(
  name: string,
  description: string,
  create: boolean,
  run: (store: Store, args: string[], opts: Record<string, unknown>) => Promise<number>,
): CommandUnknownOpts {
  return storeAdminCommand<Store>({
    name,
    description,
    label: `signerd tezos watermark ${name}`,
    configHelp: 'JSON file of store options only (camelCase names: store, stateDir, redisUrl, ...)',
    configIgnoresUnknown: false,
    open: (settings, log) => openWatermarks(settings, { create, log, logConnectionErrors: false }),
    run,
  });
}

function formatEntry(e: MarkEntry): string {
  return `${e.chainId} ${e.pkh} ${e.kind.padEnd(14)} ${e.level}/${e.round} ${e.signature === null ? 'unsigned' : 'signed'} ${e.digest || '-'}`;
}

function checkedEntry(value: unknown, where: string): MarkEntry {
  const v = (value ?? {}) as Partial<MarkEntry>;
  const entry = { ...v, digest: v.digest ?? '', signature: v.signature ?? null } as MarkEntry;
  const reason = invalidEntryReason(entry);
  if (reason) throw new DaemonError('BAD_REQUEST', `${where}: ${reason}`);
  return { chainId: entry.chainId, pkh: entry.pkh, kind: entry.kind, level: entry.level, round: entry.round, digest: entry.digest, signature: entry.signature };
}

/** Reads an export (our JSON object with `marks`) or a bare JSON array of entries. */
function readExport(file: string): MarkEntry[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file === '-' ? 0 : file, 'utf8'));
  } catch (err) {
    throw new DaemonError('BAD_REQUEST', `${file}: not readable JSON (${(err as Error).message})`);
  }
  const list = Array.isArray(parsed) ? parsed : (parsed as { marks?: unknown })?.marks;
  if (!Array.isArray(list)) throw new DaemonError('BAD_REQUEST', `${file}: expected {"format":"${EXPORT_FORMAT}","marks":[…]} or an array of marks`);
  // Every entry is checked before anything is written: an import is all or nothing on bad input.
  return list.map((item, i) => checkedEntry(item, `${file}: marks[${i}]`));
}

export function watermarkCommand(): CommandUnknownOpts {
  const cmd = new Command('watermark').description('inspect and move tezos high watermarks (show, set, export, import)');

  const show = adminCommand('show', 'print stored marks: chain, pkh, kind, level/round, signed or not, payload digest', false, async (store, _args, opts) => {
    const marks = (await store.list()).filter((e) => (!opts['pkh'] || e.pkh === opts['pkh']) && (!opts['chain'] || e.chainId === opts['chain']));
    for (const e of marks) process.stdout.write((opts['json'] ? JSON.stringify(e) : formatEntry(e)) + '\n');
    return 0;
  });
  show.option('--pkh <pkh>', 'only this key').option('--chain <chainId>', 'only this chain').option('--json', 'one JSON object per line');

  const set = adminCommand(
    'set',
    'set one mark (e.g. a new host starts above what the old host signed); raises only, unless --force',
    true,
    async (store, _args, opts) => {
      const entry = checkedEntry(
        { chainId: opts['chain'], pkh: opts['pkh'], kind: opts['kind'], level: opts['level'], round: opts['round'], digest: '', signature: null },
        'set',
      );
      const done = await store.put(entry, Boolean(opts['force']));
      process.stdout.write(done ? `set ${formatEntry(entry)}\n` : 'not set: the stored mark is higher (use --force to lower it)\n');
      return done ? 0 : EXIT_NOT_RAISED;
    },
  );
  set
    .requiredOption('--chain <chainId>', 'chain id, e.g. NetXdQprcVkpaWU (mainnet)')
    .requiredOption('--pkh <pkh>', 'the signing key (tz1…tz4)')
    .addOption(new Option('--kind <kind>', 'request kind').choices([...MARKED_KINDS]).makeOptionMandatory())
    .requiredOption('--level <level>', 'block level', parseCount('--level'))
    .option('--round <round>', 'round', parseCount('--round'), 0)
    .option('--force', 'also lower a mark (dangerous: allows signing again at or below what was signed)');

  const exportCmd = adminCommand(
    'export',
    'write every mark as one JSON document (to move marks to another host or store)',
    false,
    async (store, _args, opts) => {
      const doc = { format: EXPORT_FORMAT, version: 1, exportedAt: new Date().toISOString(), marks: await store.list() };
      const text = JSON.stringify(doc, null, 2) + '\n';
      if (opts['out']) fs.writeFileSync(opts['out'] as string, text, { mode: 0o600, flag: 'wx' });
      else process.stdout.write(text);
      return 0;
    },
  );
  exportCmd.option('--out <file>', 'write to this new file instead of stdout');

  const importCmd = adminCommand(
    'import',
    'merge exported marks into this store: each slot keeps the higher mark, unless --force',
    true,
    async (store, [file], opts) => {
      const entries = readExport(file ?? '-');
      let raised = 0;
      let kept = 0;
      for (const entry of entries) {
        if (await store.put(entry, Boolean(opts['force']))) raised++;
        else kept++;
      }
      process.stdout.write(`imported ${raised}, kept ${kept} higher stored mark(s)\n`);
      return 0;
    },
  );
  importCmd.argument('[file]', 'export file; - or none for stdin').option('--force', 'overwrite even higher stored marks');

  for (const sub of [show, set, exportCmd, importCmd]) cmd.addCommand(sub);
  return cmd;
}
