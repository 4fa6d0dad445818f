#!/usr/bin/env node
// The signerd executable: sizes libuv's thread pool for the daemon being started, then loads the
// command line (cli.ts). CommonJS on purpose: Node's ES module loader starts the pool itself, so
// UV_THREADPOOL_SIZE takes effect only if it is set before the first ES module loads.
import os from 'node:os';

/**
 * Pool threads per daemon, where libuv's default (4) is wrong. verify-rsa: an RSA-4096 check
 * (~0.1 ms) costs about what the request's own work on the event loop costs, so the loop needs a
 * core of its own; pool threads beyond the other cores take turns with it, and each hand-over
 * wakes a sleeping thread. Measured on 2 cores: 1 thread ~0.8x of a core's raw verify rate, 4
 * threads ~0.65x with stalls. Signing and ECDSA (~1 ms per operation) keep the default.
 * An operator's UV_THREADPOOL_SIZE always wins (and is needed when NODE_OPTIONS=--import loads an
 * ES module before this file runs).
 */
const POOL_THREADS: Record<string, (cores: number) => number> = {
  'verify-rsa': (cores) => Math.max(1, cores - 1),
};

const size = POOL_THREADS[process.argv[2] ?? ''];
if (size && process.env['UV_THREADPOOL_SIZE'] === undefined) process.env['UV_THREADPOOL_SIZE'] = String(size(os.availableParallelism()));

import('./cli.js').catch((err: unknown) => {
  process.stderr.write(`signerd: cannot load: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(70);
});
