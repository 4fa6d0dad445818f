// One test process for the other unit tests: servers, stores, formats, config, docs; test/suite/processes.ts lists its files.
import { runTestProcess } from '../helpers/test-process.js';

await runTestProcess(import.meta.url);
