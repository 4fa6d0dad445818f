// One test process for the migration of seed stores into every backend; test/suite/processes.ts lists its files.
import { runTestProcess } from '../helpers/test-process.js';

await runTestProcess(import.meta.url);
