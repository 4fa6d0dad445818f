// One test process for client channels: TLS clients, HTTP daemons, registry reload; test/suite/processes.ts lists its files.
import { runTestProcess } from '../helpers/test-process.js';

await runTestProcess(import.meta.url);
