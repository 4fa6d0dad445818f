// One test process for the sign/verify daemons on the wire: replies, abuse, request_client.sh, admin without a store; test/suite/processes.ts lists its files.
import { runTestProcess } from '../helpers/test-process.js';

await runTestProcess(import.meta.url);
