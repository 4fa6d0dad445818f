// One test process for sign-ecdsa with the transparency log: bundles, outages, revoke and import; test/suite/processes.ts lists its files.
import { runTestProcess } from '../helpers/test-process.js';

await runTestProcess(import.meta.url);
