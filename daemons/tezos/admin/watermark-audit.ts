// `signerd tezos watermark audit`: a history checker over the request logs of every tezos process that
// shares a store. It asserts the double-signing rule across processes: for each (chain, key, kind,
// level, round) at most one request advanced the mark (made a signature), and every signature returned
// for it is that one (the `signed` fingerprint). Exit 0 when the history is clean, 1 with a list otherwise.
import fs from 'node:fs';
import readline from 'node:readline';
import { Command } from '@commander-js/extra-typings';
import { TEZOS_AUDIT_LINE_BYTES_MAX } from '../tezos-limits.js';

interface MarkHistory {
  /** Requests whose reserve advanced the mark (each made a signature). */
  advanced: number;
  /** Distinct signature fingerprints returned (new or replayed). */
  signatures: Set<string>;
}

export interface AuditReport {
  lines: number;
  /** Lines that were not request records of a tezos consensus sign (other records, other daemons). */
  skipped: number;
  /** Lines longer than TEZOS_AUDIT_LINE_BYTES_MAX or not JSON. */
  unreadable: number;
  /** Requests that returned a signature for a consensus slot. */
  signed: number;
  /** Requests refused (any error) for a consensus slot. */
  refused: number;
  marks: number;
  violations: string[];
}

export function watermarkAudit(): { add(line: string): void; result(): AuditReport } {
  const marks = new Map<string, MarkHistory>();
  const report: Omit<AuditReport, 'marks' | 'violations'> = { lines: 0, skipped: 0, unreadable: 0, signed: 0, refused: 0 };

  function add(line: string): void {
    report.lines++;
    if (line.length > TEZOS_AUDIT_LINE_BYTES_MAX) {
      report.unreadable++;
      return;
    }
    let r: Record<string, unknown>;
    try {
      r = JSON.parse(line) as Record<string, unknown>;
    } catch {
      report.unreadable++;
      return;
    }
    const { msg, chainId, pkh, kind, round, outcome, watermark, signed } = r;
    // Logs before signerd 0.1's blockLevel gave the block level as `level`, over pino's (the last key wins).
    const level = r['blockLevel'] ?? r['level'];
    if (msg !== 'request' || typeof chainId !== 'string' || typeof pkh !== 'string' || typeof kind !== 'string' || typeof level !== 'number') {
      report.skipped++;
      return;
    }
    const key = `${chainId} ${pkh} ${kind} ${level}/${typeof round === 'number' ? round : 0}`;
    let history = marks.get(key);
    if (!history) marks.set(key, (history = { advanced: 0, signatures: new Set() }));
    // An advanced mark made a signature even if the reply never left (the client went away).
    if (watermark === 'advanced') history.advanced++;
    if (typeof signed === 'string') history.signatures.add(signed);
    if (outcome === 'ok') report.signed++;
    else report.refused++;
  }

  function result(): AuditReport {
    const violations: string[] = [];
    for (const [key, h] of marks) {
      if (h.advanced > 1) violations.push(`${key}: ${h.advanced} requests advanced the mark (signed anew)`);
      if (h.signatures.size > 1) violations.push(`${key}: ${h.signatures.size} different signatures returned`);
    }
    return { ...report, marks: marks.size, violations };
  }
  return { add, result };
}

export function watermarkAuditCommand() {
  const cmd = new Command('audit')
    .description(
      'check the request logs of every tezos process sharing a store: at most one signature per (chain, key, kind, level, round); exit 1 on a violation',
    )
    .argument('[files...]', "JSON log files (the daemons' stdout); none or - for stdin")
    .option('--json', 'print the report as one JSON object');
  cmd.action(async (files, opts) => {
    const audit = watermarkAudit();
    for (const file of files.length === 0 ? ['-'] : files) {
      const input = file === '-' ? process.stdin : fs.createReadStream(file);
      for await (const line of readline.createInterface({ input, crlfDelay: Infinity })) if (line.trim()) audit.add(line);
    }
    const report = audit.result();
    if (opts.json) process.stdout.write(JSON.stringify(report) + '\n');
    else {
      process.stdout.write(
        `${report.lines} lines, ${report.marks} marks, ${report.signed} signed, ${report.refused} refused, ${report.skipped} other records, ${report.unreadable} unreadable\n`,
      );
      for (const v of report.violations) process.stdout.write(`VIOLATION ${v}\n`);
      process.stdout.write(report.violations.length === 0 ? 'ok: at most one signature per slot\n' : `${report.violations.length} violation(s)\n`);
    }
    process.exitCode = report.violations.length === 0 ? 0 : 1;
  });
  return cmd;
}
