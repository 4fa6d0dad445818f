// Runs the test files of one entry of test/suite/processes.ts in this process, one after another,
// as if tap had started each: every file's top-level `t.testdir()` gets a folder of its own.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import t from 'tap';
import { entryNames, TEST_PROCESSES } from '../suite/processes.js';

/** The compiled tests' root (dist/test): this file is in its helpers/ folder. */
const TEST_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Every test file tap could run, relative to the test root, sorted; the suite's own files excluded. */
export function testFiles(): string[] {
  return fs
    .readdirSync(TEST_ROOT, { recursive: true, encoding: 'utf8' })
    .map((file) => file.split(path.sep).join('/'))
    .filter((file) => file.endsWith('.test.js') && !file.startsWith('suite/'))
    .sort();
}

/** The files one process runs, in test-root order (`files`: the listing, when the caller already has it). */
export function filesOf(processName: string, files: readonly string[] = testFiles()): string[] {
  const entries = TEST_PROCESSES[processName];
  if (!entries) throw new Error(`no test process named ${processName} in test/suite/processes.ts`);
  return files.filter((file) => entries.some((entry) => entryNames(entry, file)));
}

/** Runs the process named by the calling suite file's name (`test/suite/<name>.test.ts`). */
export async function runTestProcess(suiteFileUrl: string): Promise<void> {
  const name = path.basename(fileURLToPath(suiteFileUrl), '.test.js');
  const base = t.testdirName;
  for (const file of filesOf(name)) {
    // Set before the file loads: its top-level t.testdir() and the subtests it declares take their
    // folder names from the root's, which would otherwise be one folder for every file here.
    t.testdirName = `${base}-${file.replace(/[^a-zA-Z0-9._-]+/g, '-')}`;
    try {
      await import(pathToFileURL(path.join(TEST_ROOT, file)).href);
    } catch (err) {
      // One file that cannot load fails; the others in this process still run.
      t.fail(`${file} did not load: ${(err as Error).stack ?? String(err)}`);
    }
  }
}
