// Readiness: "this daemon can do its job right now": it serves its listeners and every part (a key, a
// store, a secret set) passed its last probe. Probes run on an interval, at once after a backend fault
// or a signalled change (a store's connection lost or back), each within a deadline.
import type { Logger } from 'pino';
import { DaemonError, toDaemonError, type ErrorCode } from '../errors.js';
import { PROBE_MS_MAX, UNREADY_LOG_INTERVAL_MS } from '../limits.js';

/** One thing the daemon needs to do its job, and how to prove it works now. */
export interface ReadinessPart {
  /** Bounded and public (a metric label and a /readyz field): "store", "key <keyId>", "secrets". */
  readonly name: string;
  readonly intervalMs: number;
  /** Resolves when the part works now; throws (a DaemonError, whose safe message is the reason) when not. */
  probe(): Promise<void>;
  /** Probe again at once when a request ends with a backend fault (keys, HSM secrets). */
  readonly reprobeOnFault?: boolean;
  /** The code of a probe that does not answer in time: the part's own (a store's, the log's); BACKEND_TIMEOUT by default (keys). */
  readonly timeoutCode?: ErrorCode;
  /** Where the part learns of changes between probes (a store's connection lost or back): probe at once. */
  readonly changes?: ProbeTrigger;
}

/**
 * A backend's "something changed, probe me now", for what it can tell without a probe (a Redis client
 * sees its connection close or come back). Created before the backend, bound to its part when the
 * part is added; fired before that, it does nothing (the first probe runs at once anyway).
 */
export interface ProbeTrigger {
  /** A function property, not a method: it is handed to the backend on its own. */
  readonly fire: () => void;
  bind(probeNow: () => void): void;
}

export function createProbeTrigger(): ProbeTrigger {
  let probeNow: (() => void) | null = null;
  return {
    fire: () => probeNow?.(),
    bind: (fn) => (probeNow = fn),
  };
}

interface PartState {
  name: string;
  ready: boolean;
  /** Why not (an error code and its safe message); null when ready. */
  reason: string | null;
}

interface ReadinessReport {
  ready: boolean;
  serving: boolean;
  parts: PartState[];
}

export interface Readiness {
  add(part: ReadinessPart): void;
  /** The listeners are up: /healthz turns 200 and probing begins. */
  serving(): void;
  /** A request ended with a backend fault: parts that may have broken are probed again now. */
  faultSeen(): void;
  report(): ReadinessReport;
  /** Resolves the first time the daemon is ready (systemd's READY=1 waits for it). */
  readonly firstReady: Promise<void>;
  /** No more probes; one already running finishes on its own (settled() waits for it). */
  stop(): void;
  /** Resolves once no probe is running (each is bounded by its deadline). */
  settled(): Promise<void>;
}

interface Tracked {
  part: ReadinessPart;
  state: PartState;
  running: boolean;
  /** A change was signalled while a probe ran: probe again as soon as it ends. */
  again: boolean;
  probed: boolean;
  timer: NodeJS.Timeout | undefined;
}

export function createReadiness(log: Logger): Readiness {
  const tracked: Tracked[] = [];
  let serving = false;
  let stopped = false;
  let wasReady = false;
  let lastUnreadyLogMs = 0;
  let announceReady!: () => void;
  const firstReady = new Promise<void>((resolve) => (announceReady = resolve));

  const report = (): ReadinessReport => {
    const parts = tracked.map((t) => ({ ...t.state }));
    return { ready: serving && parts.every((p) => p.ready), serving, parts };
  };

  /** Logs transitions at once, and an unready daemon's reasons every UNREADY_LOG_INTERVAL_MS. */
  const settle = (): void => {
    const now = report();
    if (now.ready && !wasReady) {
      wasReady = true;
      log.info({ parts: now.parts.map((p) => p.name) }, 'ready');
      announceReady();
      // Not before every part had its first probe: a daemon starting is not a daemon failing.
    } else if (!now.ready && tracked.every((t) => t.probed) && (wasReady || Date.now() - lastUnreadyLogMs >= UNREADY_LOG_INTERVAL_MS)) {
      wasReady = false;
      lastUnreadyLogMs = Date.now();
      const notReady = Object.fromEntries(now.parts.filter((p) => !p.ready).map((p) => [p.name, p.reason]));
      log.warn({ serving: now.serving, notReady }, 'not ready');
    }
  };

  // Probes under way: a daemon's stop waits for them, so none touches a store or directory after it.
  const running = new Set<Promise<void>>();
  /** `queue`: a probe already running does not count (it may have looked before the change). */
  const run = (t: Tracked, queue = false): void => {
    if (stopped) return;
    if (t.running) {
      if (queue) t.again = true;
      return;
    }
    t.running = true;
    t.again = false;
    clearTimeout(t.timer);
    const probing = withDeadline(t.part.probe(), PROBE_MS_MAX, t.part.timeoutCode ?? 'BACKEND_TIMEOUT')
      .then(
        () => {
          t.state.ready = true;
          t.state.reason = null;
        },
        (err: unknown) => {
          const e = toDaemonError(err);
          t.state.ready = false;
          t.state.reason = `${e.code}: ${e.message}`;
        },
      )
      .finally(() => {
        t.running = false;
        t.probed = true;
        if (stopped) return;
        // A change seen during the probe may postdate what the probe saw (the connection came back).
        t.timer = setTimeout(() => run(t), t.again ? 0 : t.part.intervalMs).unref();
        if (serving) settle();
      });
    running.add(probing);
    void probing.finally(() => running.delete(probing));
  };

  // While unready, say why on schedule even when no probe changes anything.
  const nag = setInterval(() => {
    if (serving && !wasReady) settle();
  }, UNREADY_LOG_INTERVAL_MS).unref();

  return {
    add(part) {
      const t: Tracked = {
        part,
        state: { name: part.name, ready: false, reason: 'not probed yet' },
        running: false,
        again: false,
        probed: false,
        timer: undefined,
      };
      tracked.push(t);
      part.changes?.bind(() => run(t, true));
      run(t);
    },
    serving() {
      serving = true;
      settle();
    },
    faultSeen() {
      for (const t of tracked) if (t.part.reprobeOnFault) run(t);
    },
    report,
    firstReady,
    stop() {
      stopped = true;
      serving = false;
      clearInterval(nag);
      for (const t of tracked) clearTimeout(t.timer);
    },
    settled: async () => void (await Promise.allSettled([...running])),
  };
}

function withDeadline(work: Promise<void>, msMax: number, code: ErrorCode): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DaemonError(code, `no answer within ${msMax} ms`)), msMax);
  });
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}
