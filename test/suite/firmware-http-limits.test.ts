// One test process for the firmware HTTP API's limits: bad input, connections, multipart, queues; test/suite/processes.ts lists its files.
import { runTestProcess } from '../helpers/test-process.js';

await runTestProcess(import.meta.url);
