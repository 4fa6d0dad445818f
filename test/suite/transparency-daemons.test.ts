// One test process for the daemons appending to the transparency log: crashes, firmware, tezos; test/suite/processes.ts lists its files.
import { runTestProcess } from '../helpers/test-process.js';

await runTestProcess(import.meta.url);
