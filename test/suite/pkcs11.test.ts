// One test process for the sign daemons with HSM keys and HSM failures; test/suite/processes.ts lists its files.
import { runTestProcess } from '../helpers/test-process.js';

await runTestProcess(import.meta.url);
