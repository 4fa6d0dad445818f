// The suite's test processes (test/suite/processes.ts) cover every test file once: a file left out
// would never run under `npm test`, a file in two would run twice.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { filesOf, testFiles } from '../../helpers/test-process.js';
import { entryNames, TEST_PROCESSES } from '../../suite/processes.js';

const SUITE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../suite');
const FILES = testFiles();

t.test('every test file is in exactly one process, or in the serial bounds tap runs itself', async (t) => {
  const owners = new Map<string, string[]>();
  for (const name of Object.keys(TEST_PROCESSES)) for (const file of filesOf(name, FILES)) owners.set(file, [...(owners.get(file) ?? []), name]);
  for (const file of FILES) {
    const names = owners.get(file) ?? [];
    if (file.startsWith('integration/bounds/')) t.same(names, [], `${file} runs alone, outside every process`);
    else t.equal(names.length, 1, `${file}: in ${names.length === 0 ? 'no process' : names.join(', ')}`);
  }
});

t.test('every entry names a file, and every process has its suite file and no other', async (t) => {
  for (const [name, entries] of Object.entries(TEST_PROCESSES)) {
    for (const entry of entries)
      t.ok(
        FILES.some((file) => entryNames(entry, file)),
        `${name}: ${entry} names a test file`,
      );
  }
  const suiteFiles = fs.readdirSync(SUITE_DIR).filter((file) => file.endsWith('.test.js'));
  t.same(suiteFiles.map((file) => file.replace(/\.test\.js$/, '')).sort(), Object.keys(TEST_PROCESSES).sort(), 'test/suite/<name>.test.ts for each process');
});

t.test('an entry names a folder, one file, or a prefix of file names', async (t) => {
  t.ok(entryNames('integration/pkcs11/', 'integration/pkcs11/failures.test.js'));
  t.ok(entryNames('integration/tezos/crash', 'integration/tezos/crash.test.js'));
  t.notOk(entryNames('integration/signature/validity', 'integration/signature/validity-shared-stores.test.js'), 'a file is not a prefix');
  t.ok(entryNames('integration/tezos/hsm-*', 'integration/tezos/hsm-sign.test.js'));
  t.notOk(entryNames('integration/tezos/hsm-*', 'integration/hmac/hsm-single.test.js'));
});
