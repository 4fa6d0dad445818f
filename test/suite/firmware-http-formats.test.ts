// One test process for the firmware HTTP API, one format at a time, checked by the formats' own tools; test/suite/processes.ts lists its files.
import { runTestProcess } from '../helpers/test-process.js';

await runTestProcess(import.meta.url);
