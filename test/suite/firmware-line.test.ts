// One test process for the firmware line protocol and the FIT, HAB4 and UEFI formats; test/suite/processes.ts lists its files.
import { runTestProcess } from '../helpers/test-process.js';

await runTestProcess(import.meta.url);
