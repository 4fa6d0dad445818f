// `--config <file.json>`: a JSON object whose keys are the daemon's long option names in camelCase.
// Values given on the command line win; unknown keys are an error, so a typo cannot go unnoticed.
import type { CommandUnknownOpts } from '@commander-js/extra-typings';
import { DaemonError } from '../errors.js';
import { readTrustedFile } from './trusted-file.js';

/**
 * Admin commands read a daemon's config file for the options they share with it: `alsoKnown` names
 * the daemon's other options, skipped (a name known to neither is still an error); `ignoreUnknown`
 * skips every other name.
 */
export function applyConfigFile(cmd: CommandUnknownOpts, file: string, opts: { ignoreUnknown?: boolean; alsoKnown?: Iterable<string> } = {}): void {
  // Read once, before any listener: a pipe (`--config <(…)`) may be waited on here.
  const { text } = readTrustedFile(file, 'config file', { pipes: true });
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new DaemonError('CONFIG_INVALID', `config file ${file}: not valid JSON (${jsonSyntaxError(err as SyntaxError, text)})`, { cause: err });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new DaemonError('CONFIG_INVALID', `config file ${file}: expected a JSON object`);
  }
  // JSON.parse keeps the last of two equal keys: an edit appended below an old value would win or
  // lose by its place in the file, unseen.
  const twice = repeatedTopLevelKey(text);
  if (twice !== undefined) throw new DaemonError('CONFIG_INVALID', `config file ${file}: "${twice}" is given twice`);
  const known = new Map(cmd.options.map((o) => [o.attributeName(), o]));
  const skipped = new Set(opts.alsoKnown ?? []);
  for (const [name, value] of Object.entries(parsed)) {
    const option = known.get(name);
    if (!option || name === 'config') {
      if ((opts.ignoreUnknown || skipped.has(name)) && name !== 'config') continue;
      throw new DaemonError('CONFIG_INVALID', `config file ${file}: unknown option "${name}"`);
    }
    const source = cmd.getOptionValueSource(name);
    if (source === 'cli' || source === 'env') continue;
    // A flag (--keep-open, --no-http) takes a JSON boolean only: "false" as a string would otherwise
    // read as set. An option that needs a value takes no boolean.
    const takesValue = option.required || option.optional;
    if (!takesValue && typeof value !== 'boolean') throw new DaemonError('CONFIG_INVALID', `config file ${file}: "${name}" must be true or false`);
    if (option.required && typeof value === 'boolean') throw new DaemonError('CONFIG_INVALID', `config file ${file}: "${name}" takes a value, not ${value}`);
    // A choice option's parser only checks the choice: it takes one string, as an option without one.
    if (takesValue) checkValueShape(file, name, value, Boolean(option.parseArg) && !option.argChoices, option.variadic);
    const choices = option.argChoices;
    if (choices && !choices.includes(String(value))) {
      throw new DaemonError('CONFIG_INVALID', `config file ${file}: "${name}" must be one of ${choices.join(', ')}`);
    }
    cmd.setOptionValueWithSource(name, configValue(option.parseArg as Parser | undefined, value), 'config');
  }
}

type Parser = (value: unknown, previous: unknown) => unknown;

/** The first key the top-level object of a valid JSON text has twice, if any. */
function repeatedTopLevelKey(text: string): string | undefined {
  const seen = new Set<string>();
  let depth = 0;
  for (let at = 0; at < text.length; at++) {
    const c = text[at];
    if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
    else if (c === '"') {
      let end = at + 1;
      while (text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      const literal = text.slice(at, end + 1);
      at = end;
      // A string in the top-level object followed by a colon is one of its keys.
      let next = end + 1;
      while (next < text.length && ' \t\r\n'.includes(text[next]!)) next++;
      if (depth === 1 && text[next] === ':') {
        const key = JSON.parse(literal) as string;
        if (seen.has(key)) return key;
        seen.add(key);
      }
    }
  }
  return undefined;
}

/**
 * What the command line can give an option with a value: text (a number where the option parses
 * one), or a list for an option that takes several. null, an object, or a list for an option of one
 * value would reach the code unchecked (a TypeError, a path of "[object Object]").
 */
function checkValueShape(file: string, name: string, value: unknown, parsed: boolean, variadic: boolean): void {
  const scalar = (v: unknown): boolean => typeof v === 'string' || (parsed && typeof v === 'number');
  const ok = Array.isArray(value) ? (parsed || variadic) && value.length > 0 && value.every(scalar) : scalar(value);
  if (!ok)
    throw new DaemonError(
      'CONFIG_INVALID',
      `config file ${file}: "${name}" must be ${parsed ? 'a string or a number' : 'a string'}${parsed || variadic ? ', or a list of them' : ''}`,
    );
}

/**
 * A config-file value as the command line would have given it, through the option's own parser so
 * it is checked and typed the same way. An array is the repeated option (`--keyring a --keyring b`)
 * for a parser that folds values (two parameters), or one comma-separated list for a parser of a
 * whole list (`--redis-sentinels a,b`).
 */
function configValue(parse: Parser | undefined, value: unknown): unknown {
  if (!parse || typeof value === 'boolean') return Array.isArray(value) ? value.map(String) : value;
  const text = (v: unknown): unknown => (typeof v === 'number' ? v : String(v));
  if (!Array.isArray(value)) return parse(text(value), undefined);
  if (parse.length >= 2) return value.reduce((previous: unknown, v: unknown) => parse(text(v), previous), undefined);
  return parse(value.map(String).join(','), undefined);
}

/**
 * Where a JSON syntax error is, never the text around it: V8's message quotes the file near the
 * error, and a config or keys file may hold a secret there.
 */
export function jsonSyntaxError(err: SyntaxError, text: string): string {
  const position = /at position (\d+)/.exec(err.message)?.[1];
  if (position !== undefined) {
    const before = text.slice(0, Number(position)).split('\n');
    return `at line ${before.length}, column ${before[before.length - 1]!.length + 1}`;
  }
  return /end of JSON input/.test(err.message) ? 'it ends too early' : 'an unexpected character';
}
