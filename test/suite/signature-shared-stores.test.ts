// One test process for validity records on the shared stores (Redis, PostgreSQL, etcd) and PostgreSQL durability; test/suite/processes.ts lists its files.
import { runTestProcess } from '../helpers/test-process.js';

await runTestProcess(import.meta.url);
