// Starts a real daemon process (`node dist/bin/signerd.cjs <subcommand> ...`) on port 0 and learns
// its port from the `listening` log line; keeps its log lines for assertions.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const SIGNERD = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/signerd.cjs');

export interface RunningDaemon {
  readonly port: number;
  /** Every listening port the daemon logged, in order (line protocol first, then HTTP if any). */
  readonly ports: number[];
  readonly proc: ChildProcess;
  readonly logs: Array<Record<string, unknown>>;
  readonly stderr: () => string;
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  /** How many `listening` lines to wait for (daemons with an HTTP front end log two). */
  listeners?: number;
  timeoutMs?: number;
  /**
   * Stop parsing log lines once the daemon listens (benchmarks: the load generator shares the
   * machine and must not spend its CPU on the daemon's log; the lines are still read and dropped).
   */
  dropLogsAfterStart?: boolean;
}

export function startDaemon(args: string[], opts: SpawnOptions = {}): Promise<RunningDaemon> {
  const proc = spawn(process.execPath, [SIGNERD, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
  const logs: Array<Record<string, unknown>> = [];
  const ports: number[] = [];
  let stderr = '';
  let buffered = '';
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`daemon ${args[0]} did not start: ${stderr}`));
    }, opts.timeoutMs ?? 15_000);
    proc.stdout!.on('data', (d: Buffer) => {
      buffered += d.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          logs.push(entry);
          if (entry['msg'] === 'listening' && typeof entry['port'] === 'number') {
            ports.push(entry['port']);
            if (ports.length === (opts.listeners ?? 1)) {
              clearTimeout(timer);
              if (opts.dropLogsAfterStart) {
                proc.stdout!.removeAllListeners('data');
                proc.stdout!.resume();
              }
              resolve({
                port: ports[0]!,
                ports,
                proc,
                logs,
                stderr: () => stderr,
                stop: (signal = 'SIGTERM') => {
                  if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
                  return exited;
                },
              });
            }
          }
        } catch {
          // Not JSON: ignore, it is kept in nothing; daemons log JSON only.
        }
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`daemon ${args[0]} exited ${code} before listening: ${stderr}`));
    });
  });
}

/**
 * Runs signerd to completion (admin commands, or a daemon expected to refuse to start) and returns
 * its exit code and output; with `timeoutMs`, a process still running then is killed (code null).
 */
export function runSignerd(
  args: string[],
  input?: string,
  env?: NodeJS.ProcessEnv,
  timeoutMs?: number,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [SIGNERD, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    proc.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    // A command that exits before reading its input (most do) closes the pipe: EPIPE then, not a failure.
    proc.stdin.on('error', () => {});
    proc.stdin.end(input ?? '');
  });
}
