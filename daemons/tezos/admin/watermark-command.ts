// `signerd tezos watermark show|set|export|import`: inspect marks and move them between hosts
// without knowing the store's layout. Writes only ever raise a mark unless --force is given; with a
// transparency log, set and import record every mark they moved.
import { Command, Option, type CommandUnknownOpts, type OptionValues } from '@commander-js/extra-typings';
import { storeAdminCommand } from '../../../lib/admin/store-admin-command.js';
import { parseCount } from '../../../lib/config/numbers.js';
import { CONSENSUS_KINDS } from '../signing/sign-request.js';
import { openWatermarkBackend } from '../watermark/open-watermark-store.js';
import type { MarkEntry, WatermarkBackend } from '../watermark/watermark-store.js';
import { watermarkAuditCommand } from './watermark-audit.js';
import { checkedEntry, exportDocument, readExport } from './watermark-entries.js';
import { addAdminLogOptions, withAdminLog, type AdminEvent, type AdminLog, type AdminLogOptionValues } from '../../../lib/admin/admin-transparency-log.js';
import { writeNewFile } from '../../../lib/config/new-file.js';
import { serveOptions } from '../config/serve-options.js';

/** Exit status of `set`/`import` when a mark would have been lowered (without --force). */
const EXIT_NOT_RAISED = 1;

export function watermarkCommand(): CommandUnknownOpts {
  const cmd = new Command('watermark').description('inspect and move tezos high watermarks (init, show, set, export, import), audit the request logs');
  const init = adminCommand(
    'init',
    'create an empty watermark store (a first start on this host; the daemon refuses a --state-dir without one unless given --init-watermarks)',
    true,
    async (store) => {
      const marks = (await store.list()).length;
      process.stdout.write(marks === 0 ? 'watermark store ready (empty)\n' : `watermark store ready (it holds ${marks} mark(s))\n`);
      return 0;
    },
  );
  const show = addShowOptions(
    adminCommand('show', 'print stored marks: chain, pkh, kind, level/round, signed or not, payload digest', false, (store, _args, opts) =>
      showMarks(store, showSettings(opts as ShowOptionValues)),
    ),
  );
  const set = addAdminLogOptions(
    addSetOptions(
      adminCommand('set', 'set one mark (e.g. a new host starts above what the old host signed); raises only, unless --force', true, (store, _args, opts) =>
        withAdminLog(opts as AdminLogOptionValues, (log) => setMark(store, setSettings(opts as SetOptionValues), log)),
      ),
    ),
  );
  const exportCmd = addExportOptions(
    adminCommand('export', 'write every mark as one JSON document (to move marks to another host or store)', false, (store, _args, opts) =>
      exportMarks(store, exportSettings(opts as ExportOptionValues)),
    ),
  );
  const importCmd = addAdminLogOptions(
    addImportOptions(
      adminCommand('import', 'merge exported marks into this store: each slot keeps the higher mark, unless --force', true, (store, args, opts) =>
        withAdminLog(opts as AdminLogOptionValues, (log) => importMarks(store, importSettings(args, opts as ImportOptionValues), log)),
      ),
    ),
  );
  for (const sub of [init, show, set, exportCmd, importCmd]) cmd.addCommand(sub);
  cmd.addCommand(watermarkAuditCommand());
  return cmd;
}

/**
 * The store options, --config and the exit codes come from storeAdminCommand; each subcommand adds its
 * own options (typed by its add…Options) and reads them through its settings function.
 * `create`: set and import may start a store (a new host); show and export refuse a directory without one.
 */
function adminCommand(
  name: string,
  description: string,
  create: boolean,
  run: (store: WatermarkBackend, args: string[], opts: Record<string, unknown>) => Promise<number>,
): CommandUnknownOpts {
  return storeAdminCommand<WatermarkBackend>({
    name,
    description,
    label: `signerd tezos watermark ${name}`,
    configHelp: "the daemon's JSON config file (its store options are used; its other options are skipped)",
    configIgnoresUnknown: false,
    // The daemon's own file works as it is; a name that is no option of `tezos serve` is still a typo.
    configAlsoKnown: () => serveOptions().options.map((o) => o.attributeName()),
    open: (settings, log) => openWatermarkBackend(settings, { create, log, logConnectionErrors: false }),
    run,
  });
}

function formatEntry(e: MarkEntry): string {
  return `${e.chainId} ${e.pkh} ${e.kind.padEnd(14)} ${e.level}/${e.round} ${e.signature === null ? 'unsigned' : 'signed'} ${e.digest || '-'}`;
}

// show

function addShowOptions<Args extends unknown[], Opts extends OptionValues>(cmd: Command<Args, Opts>) {
  return cmd.option('--pkh <pkh>', 'only this key').option('--chain <chainId>', 'only this chain').option('--json', 'one JSON object per line');
}
type ShowOptionValues = ReturnType<ReturnType<typeof addShowOptions<[], Record<never, never>>>['opts']>;

interface ShowSettings {
  pkh: string | null;
  chainId: string | null;
  json: boolean;
}

function showSettings(opts: ShowOptionValues): ShowSettings {
  return { pkh: opts.pkh || null, chainId: opts.chain || null, json: opts.json === true };
}

async function showMarks(store: WatermarkBackend, settings: ShowSettings): Promise<number> {
  const marks = (await store.list()).filter((e) => (!settings.pkh || e.pkh === settings.pkh) && (!settings.chainId || e.chainId === settings.chainId));
  for (const e of marks) process.stdout.write((settings.json ? JSON.stringify(e) : formatEntry(e)) + '\n');
  return 0;
}

// set

function addSetOptions<Args extends unknown[], Opts extends OptionValues>(cmd: Command<Args, Opts>) {
  return cmd
    .requiredOption('--chain <chainId>', 'chain id, e.g. NetXdQprcVkpaWU (mainnet)')
    .requiredOption('--pkh <pkh>', 'the signing key (tz1…tz4)')
    .addOption(new Option('--kind <kind>', 'request kind').choices(CONSENSUS_KINDS).makeOptionMandatory())
    .requiredOption('--level <level>', 'block level', parseCount('--level'))
    .option('--round <round>', 'round', parseCount('--round'), 0)
    .option('--force', 'also lower a mark (dangerous: allows signing again at or below what was signed)');
}
type SetOptionValues = ReturnType<ReturnType<typeof addSetOptions<[], Record<never, never>>>['opts']>;

interface SetSettings {
  /** Checked: a valid chain id, key hash, kind, level and round. */
  entry: MarkEntry;
  force: boolean;
}

function setSettings(opts: SetOptionValues): SetSettings {
  const entry = checkedEntry({ chainId: opts.chain, pkh: opts.pkh, kind: opts.kind, level: opts.level, round: opts.round, digest: '', signature: null }, 'set');
  return { entry, force: opts.force === true };
}

/** The log entry of a moved mark. */
function markEvent(kind: 'watermark-set' | 'watermark-import', e: MarkEntry, forced: boolean): AdminEvent {
  return { kind, chainId: e.chainId, pkh: e.pkh, requestKind: e.kind, level: e.level, round: e.round, forced };
}

/**
 * Writes marks and logs the ones that moved. Raising is the safe direction: written first, logged
 * after (a failed entry leaves the mark raised, exit 69). --force may lower a mark, which lets the key
 * sign again at a level it signed: logged first, so no mark is lowered without its entry.
 */
async function putLogged(
  store: WatermarkBackend,
  entries: readonly MarkEntry[],
  force: boolean,
  kind: 'watermark-set' | 'watermark-import',
  log: AdminLog | null,
): Promise<boolean[]> {
  if (force) await log?.record(entries.map((e) => markEvent(kind, e, true)));
  const moved: boolean[] = [];
  for (const entry of entries) moved.push(await store.put(entry, force));
  if (!force) await log?.record(entries.filter((_, i) => moved[i]).map((e) => markEvent(kind, e, false)));
  return moved;
}

async function setMark(store: WatermarkBackend, settings: SetSettings, log: AdminLog | null): Promise<number> {
  const [done] = await putLogged(store, [settings.entry], settings.force, 'watermark-set', log);
  if (done) {
    process.stdout.write(`set ${formatEntry(settings.entry)}\n`);
    return 0;
  }
  // Not raised: already there (the slot is as asked, and its digest and signature are kept), or higher.
  const stored = await store.read(settings.entry);
  if (stored !== null && stored.level === settings.entry.level && stored.round === settings.entry.round) {
    process.stdout.write(`unchanged: the stored mark is already ${stored.level}/${stored.round} (--force replaces it, and its signature)\n`);
    return 0;
  }
  process.stdout.write('not set: the stored mark is higher (use --force to lower it)\n');
  return EXIT_NOT_RAISED;
}

// export

function addExportOptions<Args extends unknown[], Opts extends OptionValues>(cmd: Command<Args, Opts>) {
  return cmd.option('--out <file>', 'write to this new file instead of stdout');
}
type ExportOptionValues = ReturnType<ReturnType<typeof addExportOptions<[], Record<never, never>>>['opts']>;

interface ExportSettings {
  /** A new file (mode 0600, never overwritten); null: stdout. */
  out: string | null;
}

function exportSettings(opts: ExportOptionValues): ExportSettings {
  return { out: opts.out || null };
}

async function exportMarks(store: WatermarkBackend, settings: ExportSettings): Promise<number> {
  const text = exportDocument(await store.list());
  if (settings.out !== null) writeNewFile(settings.out, text, 0o600);
  else process.stdout.write(text);
  return 0;
}

// import

function addImportOptions<Args extends unknown[], Opts extends OptionValues>(cmd: Command<Args, Opts>) {
  return cmd.argument('[file]', 'export file; - or none for stdin').option('--force', 'overwrite even equal or higher stored marks');
}
type ImportOptionValues = ReturnType<ReturnType<typeof addImportOptions<[], Record<never, never>>>['opts']>;

interface ImportSettings {
  /** An export file, or - for stdin. */
  file: string;
  force: boolean;
}

function importSettings(args: string[], opts: ImportOptionValues): ImportSettings {
  return { file: args[0] ?? '-', force: opts.force === true };
}

async function importMarks(store: WatermarkBackend, settings: ImportSettings, log: AdminLog | null): Promise<number> {
  const moved = await putLogged(store, readExport(settings.file), settings.force, 'watermark-import', log);
  const raised = moved.filter(Boolean).length;
  process.stdout.write(`imported ${raised}, kept ${moved.length - raised} stored mark(s) as high or higher\n`);
  return 0;
}
