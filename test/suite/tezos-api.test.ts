// One test process for the tezos signer as octez, Taquito and nc call it, its process and watermark commands; test/suite/processes.ts lists its files.
import { runTestProcess } from '../helpers/test-process.js';

await runTestProcess(import.meta.url);
