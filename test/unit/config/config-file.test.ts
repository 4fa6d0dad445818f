// applyConfigFile's checks on JSON values: flags take JSON booleans only (the string "false" once
// switched keep-open on), value options take no boolean, values go through the option's own parser,
// and the command line wins over the file.
import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { Command, Option } from '@commander-js/extra-typings';
import { applyConfigFile, jsonSyntaxError } from '../../../lib/config/config-file.js';

function command() {
  return new Command('daemon')
    .option('--keep-open', 'flag')
    .option('--no-http', 'negated flag')
    .option('--port <n>', 'a number', (v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n)) throw new Error('not an integer');
      return n;
    })
    .addOption(new Option('--mode <m>', 'a choice').choices(['a', 'b']))
    .option('--host <address>', 'a string')
    .exitOverride();
}

function withConfig(t: Test, config: unknown, argv: string[] = []) {
  const dir = t.testdir();
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(file, JSON.stringify(config));
  const cmd = command();
  cmd.parse(argv, { from: 'user' });
  applyConfigFile(cmd, file);
  return cmd.opts();
}

t.test('flags take JSON booleans', async (t) => {
  t.same(withConfig(t, { keepOpen: true, http: false }), { keepOpen: true, http: false });
  t.same(withConfig(t, { keepOpen: false }), { keepOpen: false, http: true });
  for (const bad of ['false', 'true', 0, 1, null, ['x']]) {
    t.throws(
      () => withConfig(t, { keepOpen: bad }),
      { code: 'CONFIG_INVALID', message: /"keepOpen" must be true or false/ },
      `keepOpen: ${JSON.stringify(bad)}`,
    );
    t.throws(() => withConfig(t, { http: bad }), { code: 'CONFIG_INVALID', message: /"http" must be true or false/ }, `http: ${JSON.stringify(bad)}`);
  }
});

t.test('value options take their value, never a boolean', async (t) => {
  t.same(withConfig(t, { port: 9948, mode: 'b' }), { port: 9948, mode: 'b', http: true });
  t.same(withConfig(t, { port: '9948' }), { port: 9948, http: true }, 'a string goes through the parser');
  t.throws(() => withConfig(t, { port: true }), { code: 'CONFIG_INVALID', message: /"port" takes a value, not true/ });
  t.throws(() => withConfig(t, { port: 1.5 }), /not an integer/);
  t.throws(() => withConfig(t, { mode: 'c' }), { code: 'CONFIG_INVALID', message: /"mode" must be one of a, b/ });
  t.throws(() => withConfig(t, { porT: 1 }), { code: 'CONFIG_INVALID', message: /unknown option "porT"/ });
});

t.test('a value has the shape the command line gives: text, or a number where the option parses one', async (t) => {
  t.same(withConfig(t, { host: '127.0.0.1' }), { host: '127.0.0.1', http: true });
  for (const bad of [null, { a: 1 }, ['127.0.0.1', '::1'], 5]) {
    t.throws(() => withConfig(t, { host: bad }), { code: 'CONFIG_INVALID', message: /"host" must be a string$/ }, `host: ${JSON.stringify(bad)}`);
  }
  for (const bad of [null, { a: 1 }, []]) {
    t.throws(
      () => withConfig(t, { port: bad }),
      { code: 'CONFIG_INVALID', message: /"port" must be a string or a number, or a list of them/ },
      `port: ${JSON.stringify(bad)}`,
    );
  }
  t.throws(() => withConfig(t, { mode: ['a'] }), { code: 'CONFIG_INVALID', message: /"mode" must be a string$/ }, 'a list where one choice goes');
});

t.test('a key given twice is refused, not decided by its place in the file', async (t) => {
  const dir = t.testdir({
    'twice.json': '{"port": 1, "host": "127.0.0.1",\n "port" : 2}',
    'escaped.json': '{"port": 1, "p\\u006frt": 2}',
    'nested.json': '{"host": "{\\"port\\": 1", "port": 2}',
  });
  for (const name of ['twice.json', 'escaped.json']) {
    t.throws(() => applyConfigFile(command(), path.join(dir, name)), { code: 'CONFIG_INVALID', message: /"port" is given twice$/ }, name);
  }
  const cmd = command();
  applyConfigFile(cmd, path.join(dir, 'nested.json'));
  t.same(cmd.opts(), { host: '{"port": 1', port: 2, http: true }, 'a key-like string inside a value is a value');
});

t.test('the command line wins', async (t) => {
  t.same(withConfig(t, { port: 1, keepOpen: false }, ['--port', '2', '--keep-open']), { port: 2, keepOpen: true, http: true });
});

t.test('a JSON syntax error says where, never what is around it', async (t) => {
  const secret = 'edsk4Uy37kMoSecretSecretSecret';
  for (const text of [`{"secret_key": ${secret}}`, `{"a": 1,\n "secret_key": "${secret}",}`, `{"secret_key": "${secret}"`]) {
    let message = '';
    try {
      JSON.parse(text);
    } catch (err) {
      message = jsonSyntaxError(err as SyntaxError, text);
    }
    t.notMatch(message, /edsk|Secret/, `${JSON.stringify(message)}: no part of the text`);
  }
  const text = '{"a": 1,\n "b": 2,}';
  let located = '';
  try {
    JSON.parse(text);
  } catch (err) {
    located = jsonSyntaxError(err as SyntaxError, text);
  }
  t.equal(located, 'at line 2, column 9');
  const dir = t.testdir({ 'config.json': `{"port": ${secret}}` });
  t.throws(() => applyConfigFile(command(), path.join(dir, 'config.json')), { code: 'CONFIG_INVALID', message: /not valid JSON \(an unexpected character\)$/ });
});

t.test('the config file may be changed by its owner only, and is bounded', async (t) => {
  const dir = t.testdir({ 'config.json': '{"port": 1}', 'big.json': `{"port": 1, "x": "${'x'.repeat(1024 * 1024)}"}` });
  const file = path.join(dir, 'config.json');
  for (const mode of [0o666, 0o646, 0o620]) {
    fs.chmodSync(file, mode);
    t.throws(
      () => applyConfigFile(command(), file),
      { code: 'KEY_FILE_INSECURE', message: /config file .*config\.json has mode 0\d+; it must not be writable by group or others \(chmod go-w / },
      `mode ${mode.toString(8)}`,
    );
  }
  fs.chmodSync(file, 0o644);
  const cmd = command();
  applyConfigFile(cmd, file);
  t.same(cmd.opts(), { port: 1, http: true }, 'readable by all is fine: it holds no secret');
  t.throws(() => applyConfigFile(command(), path.join(dir, 'nope.json')), { code: 'CONFIG_INVALID', message: /config file .*nope\.json: ENOENT/ });
  t.throws(() => applyConfigFile(command(), path.join(dir, 'big.json')), { code: 'CONFIG_INVALID', message: /larger than 1048576 bytes/ });
});
