// One test process for readiness, metrics, systemd notify and dev-start; test/suite/processes.ts lists its files.
import { runTestProcess } from '../helpers/test-process.js';

await runTestProcess(import.meta.url);
