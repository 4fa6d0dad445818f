// One test process for the unit tests of keys, PKCS#11 and tezos; test/suite/processes.ts lists its files.
import { runTestProcess } from '../helpers/test-process.js';

await runTestProcess(import.meta.url);
