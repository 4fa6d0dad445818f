#!/usr/bin/env node
// `npm start`: a development stack on one machine with no Redis. Creates development keys if
// none exist, starts every daemon on loopback with the embedded store, prints the ports and one
// working nc example each, and stops them all cleanly on Ctrl-C.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEV_DAEMONS, type DevDaemon } from './dev-daemons.js';
import { makeDirectory } from '../lib/config/make-directory.js';

const SIGNERD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'signerd.cjs');
const devDir = path.resolve(process.env['SIGNERD_DEV_DIR'] ?? '.dev-state');
const logDir = path.join(devDir, 'logs');

interface Started {
  daemon: DevDaemon;
  child: ChildProcess;
  ports: number[];
}

/** Every daemon spawned, started or still starting: a stop (even during start-up) reaches each. */
const children: ChildProcess[] = [];

function start(daemon: DevDaemon): Promise<Started> {
  const args = [SIGNERD, daemon.name, ...daemon.args(devDir)];
  const log = fs.createWriteStream(path.join(logDir, `${daemon.name}.log`), { flags: 'a', mode: 0o600 });
  // In their own process group: Ctrl-C reaches this process only, which stops each daemon with one
  // SIGTERM. Had the terminal's SIGINT reached them too, that SIGTERM would be a second signal, and a
  // second signal means "exit now" (lib/server/shutdown.ts): no drain, exit 1.
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  children.push(child);
  const ports: number[] = [];
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    log.write(d);
  });
  return new Promise((resolve, reject) => {
    let buffered = '';
    child.stdout.on('data', (d: Buffer) => {
      log.write(d);
      buffered += d.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (!line.includes('"listening"')) continue;
        const port = (JSON.parse(line) as { port?: number }).port;
        if (typeof port === 'number') ports.push(port);
        if (ports.length === daemon.listeners) resolve({ daemon, child, ports });
      }
    });
    child.once('exit', (code) => reject(new Error(`${daemon.name} exited ${code}: ${stderr.trim()}`)));
  });
}

async function main(): Promise<void> {
  let stopping = false;
  const stopAll = async (code: number): Promise<void> => {
    // npm passes its own SIGINT on as well: one stop, one SIGTERM per daemon.
    if (stopping) return;
    stopping = true;
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
          }),
      ),
    );
    process.exit(code);
  };
  // Installed before the first spawn: a Ctrl-C during start-up stops the daemons already started.
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));
  // Whatever else ends this process (a crash), the daemons it started in their own groups go with it.
  process.on('exit', () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  });

  makeDirectory(logDir, 0o700);
  for (const daemon of DEV_DAEMONS) daemon.prepare(devDir);
  const results = await Promise.allSettled(DEV_DAEMONS.map(start));
  const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = results.flatMap((r) => (r.status === 'rejected' ? [String((r.reason as Error).message)] : []));
  if (stopping) return;
  if (failed.length > 0) {
    process.stderr.write(`could not start:\n  ${failed.join('\n  ')}\n`);
    await stopAll(1);
  }

  process.stdout.write(`signerd development stack (state and logs in ${devDir})\n\n`);
  for (const { daemon, ports } of started) {
    process.stdout.write(`  ${daemon.name.padEnd(13)} ${daemon.portLabels.map((label, i) => `${label} 127.0.0.1:${ports[i]}`).join(', ')}\n`);
  }
  process.stdout.write('\nTry:\n');
  for (const { daemon } of started) for (const example of daemon.examples(devDir)) process.stdout.write(`  ${example}\n`);
  process.stdout.write('\nCtrl-C stops everything.\n');

  for (const { daemon, child } of started) {
    child.once('exit', (code, signal) => {
      if (!stopping) process.stderr.write(`${daemon.name} exited (${code ?? signal}); see ${path.join(logDir, daemon.name + '.log')}\n`);
    });
  }
}

await main();
