// One test process for the tezos signer with HSM keys: import, generate, sign, HSM outages; test/suite/processes.ts lists its files.
import { runTestProcess } from '../helpers/test-process.js';

await runTestProcess(import.meta.url);
