// One test process for the hmac daemon: wire, HTTP, mode32, process, request log; test/suite/processes.ts lists its files.
import { runTestProcess } from '../helpers/test-process.js';

await runTestProcess(import.meta.url);
