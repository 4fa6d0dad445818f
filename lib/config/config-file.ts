// `--config <file.json>`: a JSON object whose keys are the daemon's long option names in camelCase.
// Values given on the command line win; unknown keys are an error, so a typo cannot go unnoticed.
import fs from 'node:fs';
import type { Command } from 'commander';
import { DaemonError } from '../errors.js';

/** `ignoreUnknown` lets admin commands read a daemon's config file for the options they share with it. */
export function applyConfigFile(cmd: Command, file: string, opts: { ignoreUnknown?: boolean } = {}): void {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new DaemonError('CONFIG_INVALID', `config file ${file}: ${(err as Error).message}`, { cause: err });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new DaemonError('CONFIG_INVALID', `config file ${file}: expected a JSON object`);
  }
  const known = new Map(cmd.options.map((o) => [o.attributeName(), o]));
  for (const [name, value] of Object.entries(parsed)) {
    const option = known.get(name);
    if (!option || name === 'config') {
      if (opts.ignoreUnknown && name !== 'config') continue;
      throw new DaemonError('CONFIG_INVALID', `config file ${file}: unknown option "${name}"`);
    }
    const source = cmd.getOptionValueSource(name);
    if (source === 'cli' || source === 'env') continue;
    const choices = option.argChoices;
    if (choices && !choices.includes(String(value))) {
      throw new DaemonError('CONFIG_INVALID', `config file ${file}: "${name}" must be one of ${choices.join(', ')}`);
    }
    const parse = option.parseArg as ((v: unknown, prev: unknown) => unknown) | undefined;
    const coerce = (v: unknown): unknown => (parse && typeof v !== 'boolean' ? parse(typeof v === 'number' ? v : String(v), undefined) : v);
    cmd.setOptionValueWithSource(name, Array.isArray(value) ? value.map(String) : coerce(value), 'config');
  }
}
