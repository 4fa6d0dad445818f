// One test process for the unit tests of crypto: prehashed ECDSA, RSA over a digest, signature algorithms; test/suite/processes.ts lists its files.
import { runTestProcess } from '../helpers/test-process.js';

await runTestProcess(import.meta.url);
