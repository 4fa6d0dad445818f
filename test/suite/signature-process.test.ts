// One test process for the sign/verify processes: start-up, admin commands, authenticated store connections; test/suite/processes.ts lists its files.
import { runTestProcess } from '../helpers/test-process.js';

await runTestProcess(import.meta.url);
