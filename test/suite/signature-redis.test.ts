// One test process for Redis: persistence checks and topologies (TLS, Sentinel, Cluster); test/suite/processes.ts lists its files.
import { runTestProcess } from '../helpers/test-process.js';

await runTestProcess(import.meta.url);
