// The daemon's Prometheus metrics on prom-client (loaded only when --metrics-port is given): one
// registry per process, families named by Prometheus' rules (signerd_ prefix, base units, _total,
// _seconds), labels only from finite sets (daemon, listener kind, error codes, configured keys).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import { ERROR_CODES, isFault, type ErrorCode } from '../errors.js';
import { hsmPoolTotals } from '../keys/hsm-pool-stats.js';
import type { ListenerLoad, ListenerMetrics } from '../server/listener-metrics.js';
import type { Readiness } from './readiness.js';
import type { LogStats } from '../transparency/transparency-log.js';

/**
 * Request durations: from an HMAC tag (tens of microseconds) through an RSA-4096 signature or an HSM
 * call (tens of milliseconds) to a firmware upload (seconds to the 30-minute upload deadline).
 */
const REQUEST_BUCKETS_S = [
  0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900,
];
const STORE_BUCKETS_S = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
/** Outcomes a request can end with besides an error code (request-log.ts). */
const OTHER_OUTCOMES = new Set(['ok', 'client-gone']);
/** Refusal reasons that are a client failing to authenticate (channel refusals, TLS handshakes). */
const AUTH_REASONS = new Set(['UNAUTHENTICATED', 'FORBIDDEN', 'tls-handshake']);

export interface DaemonMetrics {
  readonly registry: Registry;
  /** A listener's recorder; `kind` is the daemon's name for it (sign, verify, mac, line, http). */
  listener(kind: string, faultSeen: () => void): ListenerMetrics;
  /** One store operation: its duration, and whether it failed. */
  storeOperation(store: string, op: string, seconds: number, failed: boolean): void;
  /** A configured key's public facts. */
  keyInfo(keyId: string, algorithm: string, backend: string): void;
  /** A daemon-specific counter, declared once in DAEMON_COUNTERS. */
  count(name: DaemonCounter, labels: Record<string, string>, by?: number): void;
  /** The daemon's transparency log (--transparency-log), read at each scrape. */
  transparencyLog(stats: () => LogStats): void;
  /** The client channels' certificate in use (TLS): when it expires, read at each scrape. */
  tlsCertificate(notAfterMs: () => number): void;
}

/**
 * Counters only some daemons use: name → help, label names and the daemons that export it (every
 * daemon when not named; docs/metrics.md lists them all). Another daemon's counter would only ever be 0.
 */
const DAEMON_COUNTERS = {
  signerd_tezos_refusals_total: { help: 'tezos sign requests refused, by kind (watermark, policy, authentication)', labels: ['kind'], daemons: ['tezos'] },
  signerd_hmac_tags_total: { help: 'HMAC tags made by the MAC listener (one per chunk)', labels: [], daemons: ['hmac'] },
  signerd_firmware_uploads_total: { help: 'firmware uploads answered, by format and outcome', labels: ['format', 'outcome'], daemons: ['firmware'] },
  signerd_firmware_upload_bytes_total: { help: 'bytes of firmware uploads received', labels: ['format'], daemons: ['firmware'] },
  signerd_backend_failures_total: { help: 'key backend failures seen by requests, by error code', labels: ['code'], daemons: null },
} as const satisfies Record<string, { help: string; labels: readonly string[]; daemons: readonly string[] | null }>;
export type DaemonCounter = keyof typeof DAEMON_COUNTERS;

export function createDaemonMetrics(daemon: string, version: string, readiness: Readiness): DaemonMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ daemon });
  collectDefaultMetrics({ register: registry, prefix: 'signerd_' });
  // prom-client names these gauges with _total, which Prometheus reserves for counters (promtool refuses them).
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'])
    registry.removeSingleMetric(`signerd_${name}`);
  const registers = [registry];

  new Gauge({ name: 'signerd_build_info', help: 'signerd version and Node.js version (always 1)', labelNames: ['version', 'node_version'], registers })
    .labels(version, process.versions.node)
    .set(1);

  // Request counts and durations are kept in plain numbers on the hot path and turned into their two
  // families when scraped: prom-client's bound children hash their labels on every call (about
  // 0.5 µs a request, 5% of a core at hmac's 100,000 requests a second).
  const outcomes = new Map<string, Map<string, OutcomeCell>>();
  registry.registerMetric(
    familyOf('signerd_requests_total', 'requests answered, by listener kind and outcome (ok or the error code)', 'counter', () =>
      [...cellsOf(outcomes)].map(([labels, cell]) => ({ labels, value: cell.count })),
    ),
  );
  registry.registerMetric(
    familyOf('signerd_request_duration_seconds', 'time from a request line or HTTP request to its answer, by listener kind and outcome', 'histogram', () =>
      [...cellsOf(outcomes)].flatMap(([labels, cell]) => histogramValues('signerd_request_duration_seconds', labels, cell)),
    ),
  );
  const refused = new Counter({
    name: 'signerd_connections_refused_total',
    help: 'connections refused before any request, by reason',
    labelNames: ['kind', 'reason'],
    registers,
  });
  const authFailures = new Counter({
    name: 'signerd_auth_failures_total',
    help: 'client channel authentication failures, by reason',
    labelNames: ['reason'],
    registers,
  });
  const loads = new Map<string, ListenerLoad[]>();
  const sumLoad = (read: (l: ListenerLoad) => number) =>
    function (this: Gauge<'kind'>) {
      this.reset();
      for (const [kind, list] of loads) this.labels(kind).set(list.reduce((sum, l) => sum + read(l), 0));
    };
  new Gauge({
    name: 'signerd_open_connections',
    help: 'connections open now, by listener kind',
    labelNames: ['kind'],
    registers,
    collect: sumLoad((l) => l.connections()),
  });
  new Gauge({
    name: 'signerd_in_flight_requests',
    help: 'requests being processed now, by listener kind',
    labelNames: ['kind'],
    registers,
    collect: sumLoad((l) => l.inFlight()),
  });

  new Gauge({
    name: 'signerd_ready',
    help: '1 while the daemon can do its job (GET /readyz answers 200), else 0',
    registers,
    collect() {
      this.set(readiness.report().ready ? 1 : 0);
    },
  });
  new Gauge({
    name: 'signerd_readiness',
    help: 'readiness of each part (key, store, secrets, key root): 1 ready, 0 not',
    labelNames: ['part'],
    registers,
    collect() {
      this.reset();
      for (const part of readiness.report().parts) this.labels(part.name).set(part.ready ? 1 : 0);
    },
  });

  // HSM session pools (every token this process opened); 0 when no key is on a token (an unlabelled gauge always has its sample).
  const hsm = (read: (totals: ReturnType<typeof hsmPoolTotals>) => number) =>
    function (this: Gauge) {
      const totals = hsmPoolTotals();
      if (totals.tokens === 0) this.reset();
      else this.set(read(totals));
    };
  new Gauge({ name: 'signerd_hsm_sessions_open', help: 'HSM sessions open (idle in the pool and in use)', registers, collect: hsm((s) => s.open) });
  new Gauge({ name: 'signerd_hsm_sessions_in_use', help: 'HSM sessions leased to a call now', registers, collect: hsm((s) => s.inUse) });
  followingCounter('signerd_hsm_reopens_total', 'HSM tokens reopened after losing their session, token or device', registers, () => hsmPoolTotals().reopens);

  const storeDurations = new Histogram({
    name: 'signerd_store_operation_duration_seconds',
    help: 'validity or watermark store operations, by store kind and operation',
    labelNames: ['store', 'op'],
    buckets: STORE_BUCKETS_S,
    registers,
  });
  const storeErrors = new Counter({
    name: 'signerd_store_errors_total',
    help: 'store operations that failed, by store kind and operation',
    labelNames: ['store', 'op'],
    registers,
  });
  const keys = new Gauge({
    name: 'signerd_key_info',
    help: 'configured keys: id, algorithm and backend (public facts; always 1)',
    labelNames: ['key_id', 'algorithm', 'backend'],
    registers,
  });
  // Daemon counters may be counted per request (hmac tags): plain numbers until a scrape adds them in.
  const pending = new Map<DaemonCounter, Map<string, { labels: Record<string, string>; by: number }>>();
  const counters = Object.fromEntries(
    Object.entries(DAEMON_COUNTERS).map(([name, spec]) => [
      name,
      new Counter({
        name,
        help: spec.help,
        labelNames: spec.labels,
        registers: spec.daemons === null || (spec.daemons as readonly string[]).includes(daemon) ? registers : [],
        collect() {
          const waiting = pending.get(name as DaemonCounter);
          if (!waiting) return;
          for (const entry of waiting.values()) if (entry.by > 0) this.inc(entry.labels, entry.by);
          for (const entry of waiting.values()) entry.by = 0;
        },
      }),
    ]),
  ) as Record<DaemonCounter, Counter>;

  return {
    registry,
    transparencyLog(stats) {
      new Gauge({
        name: 'signerd_transparency_log_entries',
        help: 'entries in the transparency log, as far as this daemon has seen (its own appends and the head at each publish)',
        registers,
        collect() {
          this.set(stats().entries);
        },
      });
      new Gauge({
        name: 'signerd_transparency_log_checkpoint_entries',
        help: 'tree size of the latest checkpoint this daemon published or found published; entries minus this is what no checkpoint covers yet',
        registers,
        collect() {
          this.set(stats().checkpointEntries);
        },
      });
      followingCounter(
        'signerd_transparency_log_publish_failures_total',
        'checkpoint publishes that failed (each is retried a second later)',
        registers,
        () => stats().publishFailures,
      );
    },
    tlsCertificate(notAfterMs) {
      new Gauge({
        name: 'signerd_tls_certificate_expiry_timestamp_seconds',
        help: "when the client channels' TLS certificate in use expires (Unix time); clients refuse it from then on",
        registers,
        collect() {
          this.set(notAfterMs() / 1000);
        },
      });
    },
    listener(kind, faultSeen) {
      let cells = outcomes.get(kind);
      if (!cells) outcomes.set(kind, (cells = new Map<string, OutcomeCell>()));
      const byOutcome = cells;
      return {
        record(outcome, seconds) {
          // Outcomes come from closed lists; anything else would be a bug, and must not grow the label set.
          const label = OTHER_OUTCOMES.has(outcome) || outcome in ERROR_CODES ? outcome : 'other';
          let cell = byOutcome.get(label);
          if (!cell) byOutcome.set(label, (cell = { count: 0, sum: 0, buckets: new Float64Array(REQUEST_BUCKETS_S.length) }));
          cell.count++;
          cell.sum += seconds;
          for (let i = 0; i < REQUEST_BUCKETS_S.length; i++) {
            if (seconds <= REQUEST_BUCKETS_S[i]!) {
              cell.buckets[i]!++;
              break;
            }
          }
          if (label === 'ok' || label === 'client-gone') return;
          if (AUTH_REASONS.has(label)) authFailures.labels(label).inc();
          if (label !== 'other' && isFault(label as ErrorCode)) {
            if (label.startsWith('BACKEND_') || label === 'SIGNATURE_CHECK_FAILED') counters.signerd_backend_failures_total.labels(label).inc();
            faultSeen();
          }
        },
        refused(reason) {
          const label = reason in ERROR_CODES || reason === 'tls-handshake' ? reason : 'other';
          refused.labels(kind, label).inc();
          if (AUTH_REASONS.has(label)) authFailures.labels(label).inc();
        },
        observe(load) {
          loads.set(kind, [...(loads.get(kind) ?? []), load]);
        },
      };
    },
    storeOperation(store, op, seconds, failed) {
      storeDurations.labels(store, op).observe(seconds);
      if (failed) storeErrors.labels(store, op).inc();
    },
    keyInfo(keyId, algorithm, backend) {
      keys.labels(keyId, algorithm, backend).set(1);
    },
    count(name, labels, by = 1) {
      let waiting = pending.get(name);
      if (!waiting) pending.set(name, (waiting = new Map<string, { labels: Record<string, string>; by: number }>()));
      const key = labelKey(labels);
      const entry = waiting.get(key);
      if (entry) entry.by += by;
      else waiting.set(key, { labels, by });
    },
  };
}

/** One (listener kind, outcome): requests, their total seconds, and how many fell in each bucket (not cumulative). */
interface OutcomeCell {
  count: number;
  sum: number;
  buckets: Float64Array;
}

interface FamilyValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

function* cellsOf(outcomes: Map<string, Map<string, OutcomeCell>>): Generator<[Record<string, string>, OutcomeCell]> {
  for (const [kind, cells] of outcomes) for (const [outcome, cell] of cells) yield [{ kind, outcome }, cell];
}

/** The exposition of one histogram series: cumulative buckets, +Inf, sum and count. */
function histogramValues(name: string, labels: Record<string, string>, cell: OutcomeCell): FamilyValue[] {
  const values: FamilyValue[] = [];
  let cumulative = 0;
  REQUEST_BUCKETS_S.forEach((le, i) => {
    cumulative += cell.buckets[i]!;
    values.push({ metricName: `${name}_bucket`, labels: { ...labels, le }, value: cumulative });
  });
  values.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: cell.count });
  values.push({ metricName: `${name}_sum`, labels, value: cell.sum });
  values.push({ metricName: `${name}_count`, labels, value: cell.count });
  return values;
}

/** A metric family prom-client's registry prints like its own, from values computed at scrape time. */
function familyOf(name: string, help: string, type: 'counter' | 'histogram', values: () => FamilyValue[]): Metric {
  const family = {
    name,
    help,
    type,
    aggregator: 'sum',
    get: () => Promise.resolve({ name, help, type, aggregator: 'sum', values: values() }),
    reset: () => undefined,
  };
  return family as unknown as Metric;
}

/** A label set as a map key: label values come from finite sets, so the map stays small. */
function labelKey(labels: Record<string, string>): string {
  let key = '';
  for (const name in labels) key += `${name}=${labels[name]}\u0000`;
  return key;
}

/** A counter that follows a running total kept elsewhere (the HSM pool's, the log's): each scrape adds what it grew by. */
function followingCounter(name: string, help: string, registers: Registry[], total: () => number): void {
  let seen = 0;
  new Counter({
    name,
    help,
    registers,
    collect() {
      const now = total();
      if (now > seen) this.inc(now - seen);
      seen = Math.max(seen, now);
    },
  });
}
