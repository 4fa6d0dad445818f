// One test process for the transparency log and its commands, checked by the Go verifier; test/suite/processes.ts lists its files.
import { runTestProcess } from '../helpers/test-process.js';

await runTestProcess(import.meta.url);
