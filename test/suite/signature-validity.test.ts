// One test process for validity records on the embedded store: sign, verify, revoke, expire; test/suite/processes.ts lists its files.
import { runTestProcess } from '../helpers/test-process.js';

await runTestProcess(import.meta.url);
