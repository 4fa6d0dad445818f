#!/usr/bin/env node
// The signerd executable: sizes libuv's thread pool for the daemon being started, then loads the
// command line (cli.ts). CommonJS on purpose: Node's ES module loader starts the pool itself, so
// UV_THREADPOOL_SIZE takes effect only if it is set before the first ES module loads.
import fs from 'node:fs';
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

/**
 * How much lower the pool threads run than the event loop (Linux nice), when the pool has a thread for
 * every core and so can take them all. Then the event loop must still get a core whenever it has
 * work: accepting, reading and answering are what keep a newcomer from waiting behind a burst
 * (docs/line-protocol.md), and the pool takes every cycle the loop does not need. Measured on 2 cores
 * (sign-ecdsa 1.10x to 1.29x of one thread, sign-rsa 1.57x to 1.68x, lower p99). A pool that leaves
 * a core to the loop (verify-rsa's) keeps its priority: lowered, it lost that core to other processes.
 */
const POOL_NICE = 10;

/**
 * Starts libuv's pool now and lowers its threads' priority. The pool's threads are created inside the
 * first queued job's call, so they are exactly the threads that appear across it; if anything else
 * appeared, or the pool had already started (an --import hook), nothing is changed. Linux only: there
 * setpriority on a thread id applies to that thread; a refusal (a seccomp filter) changes nothing.
 */
function lowerPoolPriority(): void {
  const poolThreads = Number(process.env['UV_THREADPOOL_SIZE'] ?? 4);
  if (process.platform !== 'linux' || poolThreads < os.availableParallelism()) return;
  const threads = (): Set<string> => new Set(fs.readdirSync('/proc/self/task'));
  try {
    const before = threads();
    fs.stat('/', () => {});
    const started = [...threads()].filter((tid) => !before.has(tid));
    if (started.length !== poolThreads) return;
    const nice = Math.min(19, os.getPriority() + POOL_NICE);
    for (const tid of started) os.setPriority(Number(tid), nice);
  } catch {
    // Not fatal: the daemon only loses the event loop's head start.
  }
}
lowerPoolPriority();

/** The commands that run as daemons (systemctl reload sends them SIGHUP). */
const DAEMONS = new Set(['sign-rsa', 'verify-rsa', 'sign-ecdsa', 'verify-ecdsa', 'firmware', 'hmac', 'tezos', 'log serve']);
const [command = '', subcommand = ''] = process.argv.slice(2);

/**
 * Node's default for SIGHUP is to exit. The daemon takes SIGHUP over once its code has loaded (about
 * 150 ms); one that comes before has nothing to reload, since no configuration or key has been read
 * yet, and must not end a signer that systemd is starting.
 */
const whileLoading = (): void => {};
if (DAEMONS.has(command) || DAEMONS.has(`${command} ${subcommand}`)) process.on('SIGHUP', whileLoading);

// The command line as one bundle (scripts/build.mjs): a specifier in a variable, since tsc checks
// the sources, where the bundle does not exist. The import settles once the command has run (a
// daemon: once it has started and handles SIGHUP itself).
const bundledCli = '../bundle/cli.js';
import(bundledCli).then(
  () => process.off('SIGHUP', whileLoading),
  (err: unknown) => {
    process.stderr.write(`signerd: cannot load: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(70);
  },
);
