// A daemon's operations side, composed once per process: readiness (always: systemd and the
// "not ready" log lines need it), and with --metrics-port the metrics and the listener for
// /metrics, /healthz, /readyz. prom-client is loaded only then; without it a listener's recorder
// only watches for backend faults, so readiness probes the keys again at once.
import type { Logger } from 'pino';
import type { ChannelPolicy } from '../channels/channel-options.js';
import { ERROR_CODES, isFault, type ErrorCode } from '../errors.js';
import type { ListenerMetrics } from '../server/listener-metrics.js';
import type { DaemonCounter, DaemonMetrics } from './daemon-metrics.js';
import type { OperationsSettings } from './operations-options.js';
import { createReadiness, type ReadinessPart } from './readiness.js';
import { notifySystemdReady } from './systemd-notify.js';
import { packageVersion } from '../package-version.js';
import type { LogStats } from '../transparency/transparency-log.js';

export interface Operations {
  /** Registers a part the daemon needs (probed at once, then on its interval). */
  addPart(part: ReadinessPart): void;
  /** The recorder a listener gets (startTcpServer / startHttpServer `metrics`). */
  listener(kind: string): ListenerMetrics;
  /** The listeners are up: /healthz answers 200; READY=1 goes to systemd once every part is ready. */
  serving(): void;
  /**
   * The daemon drains (SIGTERM): /readyz and /healthz answer 503 from now on, and the listener stays
   * up until stop(), so a balancer and systemd see the drain instead of a refused connection.
   */
  draining(): void;
  /** Times each call of `methods` on a store (only with metrics on; else the store itself). */
  timedStore<T extends object>(store: T, kind: string, methods: ReadonlyArray<keyof T & string>): T;
  keyInfo(keyId: string, algorithm: string, backend: string): void;
  count(name: DaemonCounter, labels: Record<string, string>, by?: number): void;
  /** The daemon's transparency log: its entries, checkpoint size and publish failures as metrics. */
  transparencyLog(stats: () => LogStats): void;
  /** The metrics listener's port, or null when off. */
  readonly port: number | null;
  stop(): Promise<void>;
}

export async function startOperations(
  daemon: string,
  listen: { operations: OperationsSettings | null; policy: ChannelPolicy },
  log: Logger,
  channel: { certificateNotAfterMs(): number } | null,
): Promise<Operations> {
  const readiness = createReadiness(log);
  void readiness.firstReady.then(() => notifySystemdReady(log));
  const faultSeen = (): void => readiness.faultSeen();
  let metrics: DaemonMetrics | null = null;
  let server: { address: { port: number }; close(): Promise<void> } | null = null;
  if (listen.operations) {
    const [{ createDaemonMetrics }, { startOperationsServer }] = await Promise.all([import('./daemon-metrics.js'), import('./operations-server.js')]);
    metrics = createDaemonMetrics(daemon, packageVersion(), readiness);
    server = await startOperationsServer(listen.operations, listen.policy, { readiness, metrics: metrics.registry, log });
    log.info({ protocol: 'metrics', host: listen.operations.host, port: server.address.port }, 'metrics listening');
  }
  const m = metrics;
  if (channel) m?.tlsCertificate(() => channel.certificateNotAfterMs());
  return {
    addPart: (part) => readiness.add(part),
    listener: (kind) => m?.listener(kind, faultSeen) ?? faultWatcher(faultSeen),
    serving: () => readiness.serving(),
    draining: () => readiness.stop(),
    timedStore: (store, kind, methods) => (m ? timed(store, methods, (op, seconds, failed) => m.storeOperation(kind, op, seconds, failed)) : store),
    keyInfo: (keyId, algorithm, backend) => m?.keyInfo(keyId, algorithm, backend),
    count: (name, labels, by) => m?.count(name, labels, by),
    transparencyLog: (stats) => m?.transparencyLog(stats),
    port: server?.address.port ?? null,
    async stop() {
      readiness.stop();
      await readiness.settled();
      await server?.close();
    },
  };
}

/** Without metrics: a recorder that only notices backend faults. */
function faultWatcher(faultSeen: () => void): ListenerMetrics {
  return {
    record(outcome) {
      if (outcome !== 'ok' && outcome in ERROR_CODES && isFault(outcome as ErrorCode)) faultSeen();
    },
    refused() {},
    observe() {},
  };
}

function timed<T extends object>(store: T, methods: ReadonlyArray<keyof T & string>, observe: (op: string, seconds: number, failed: boolean) => void): T {
  const wrapped = { ...store };
  for (const name of methods) {
    const original = store[name] as unknown as (...args: unknown[]) => Promise<unknown>;
    if (typeof original !== 'function') continue;
    (wrapped as Record<string, unknown>)[name] = async (...args: unknown[]) => {
      const started = process.hrtime.bigint();
      let failed = false;
      try {
        return await original.apply(store, args);
      } catch (err) {
        failed = true;
        throw err;
      } finally {
        observe(name, Number(process.hrtime.bigint() - started) / 1e9, failed);
      }
    };
  }
  return wrapped;
}
